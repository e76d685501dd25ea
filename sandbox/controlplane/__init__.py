"""Real Kubernetes control planes for the twin's clusters: etcd, kube-apiserver,
kube-controller-manager and kube-scheduler built from upstream (``make upstream``), booted from a
cluster's keysets as nodeup boots them, and the API front proxy clients dial."""
