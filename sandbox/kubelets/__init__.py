"""Simulated kubelets (kwok's approach): Nodes, heartbeats, pods run as real nginx, and the
kubelet's log endpoint, for every running instance of a cluster whose control plane is booted."""
