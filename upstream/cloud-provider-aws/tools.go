//go:build tools

// Package tools pins the AWS cloud controller manager so that
// `go build k8s.io/cloud-provider-aws/cmd/aws-cloud-controller-manager` builds v1.36.2.
package tools

import _ "k8s.io/cloud-provider-aws/cmd/aws-cloud-controller-manager"
