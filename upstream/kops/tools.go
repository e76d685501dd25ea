//go:build tools

// Package tools pins the kops CLI so that `go build k8s.io/kops/cmd/kops` builds v1.36.2.
package tools

import _ "k8s.io/kops/cmd/kops"
