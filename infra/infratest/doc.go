// Package infratest validates the operations artefacts without running
// them: the Dockerfile, docker-compose.yml, the Kubernetes manifests under
// infra/k8s, the Terraform under infra/terraform, the Prometheus
// configuration and alert rules, and the Grafana dashboard. The machine
// that runs the tests needs no container engine, cluster or cloud account;
// every check parses files.
//
//	go test ./infra/...
package infratest
