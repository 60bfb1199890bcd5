package infratest

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// k8sObject is one manifest document with where it came from.
type k8sObject struct {
	file string
	o    obj
}

func (k k8sObject) kind() string { return k.o.str("kind") }
func (k k8sObject) name() string { return k.o.at("metadata").str("name") }
func (k k8sObject) id() string   { return k.kind() + "/" + k.name() }

// kustomization reads a kustomization.yaml.
func kustomization(t *testing.T, dir string) obj {
	t.Helper()
	docs := yamlDocs(t, filepath.Join(dir, "kustomization.yaml"))
	if len(docs) != 1 {
		t.Fatalf("%s: want one document", rel(t, dir))
	}
	return asObj(docs[0])
}

// resources loads the full objects a kustomization lists (recursing into
// directories that are kustomizations themselves).
func resources(t *testing.T, dir string) []k8sObject {
	t.Helper()
	var out []k8sObject
	for _, r := range kustomization(t, dir).list("resources") {
		p := filepath.Join(dir, r.(string))
		st, err := os.Stat(p)
		if err != nil {
			t.Fatalf("%s: resource %s: %v", rel(t, dir), r, err)
		}
		if st.IsDir() {
			out = append(out, resources(t, p)...)
			continue
		}
		for _, d := range yamlDocs(t, p) {
			out = append(out, k8sObject{file: rel(t, p), o: asObj(d)})
		}
	}
	return out
}

func baseObjects(t *testing.T) []k8sObject {
	return resources(t, path(t, "infra", "k8s", "base"))
}

func find(objs []k8sObject, kind, name string) (k8sObject, bool) {
	for _, o := range objs {
		if o.kind() == kind && o.name() == name {
			return o, true
		}
	}
	return k8sObject{}, false
}

var allowedKinds = map[string]bool{
	"Namespace": true, "ServiceAccount": true, "ConfigMap": true, "Deployment": true,
	"Service": true, "HorizontalPodAutoscaler": true, "PodDisruptionBudget": true,
	"Job": true, "Ingress": true, "NetworkPolicy": true,
	"SecretStore": true, "ExternalSecret": true, "ScaledObject": true, "TriggerAuthentication": true,
}

func TestK8sKindsAndMetadata(t *testing.T) {
	t.Parallel()
	objs := baseObjects(t)
	seen := map[string]bool{}
	for _, o := range objs {
		if !allowedKinds[o.kind()] {
			t.Errorf("%s: unexpected kind %q", o.file, o.kind())
		}
		if o.o.str("apiVersion") == "" || o.name() == "" {
			t.Errorf("%s: object without apiVersion or metadata.name", o.file)
		}
		if o.o.at("metadata").has("namespace") {
			t.Errorf("%s: %s sets a namespace; overlays own it", o.file, o.id())
		}
		if seen[o.id()] {
			t.Errorf("%s: duplicate %s", o.file, o.id())
		}
		seen[o.id()] = true
	}
	for _, want := range []string{
		"Deployment/borderproof-api", "Service/borderproof-api", "HorizontalPodAutoscaler/borderproof-api",
		"PodDisruptionBudget/borderproof-api", "Deployment/borderproof-worker", "PodDisruptionBudget/borderproof-worker",
		"ScaledObject/borderproof-worker", "Job/borderproof-migrate", "ConfigMap/borderproof-config",
		"SecretStore/aws-secrets-manager", "NetworkPolicy/default-deny-all", "Ingress/borderproof-api",
	} {
		if !seen[want] {
			t.Errorf("base lacks %s", want)
		}
	}
}

// podSpecs returns the pod templates of Deployments and Jobs.
func podSpecs(objs []k8sObject) map[string]obj {
	out := map[string]obj{}
	for _, o := range objs {
		if o.kind() == "Deployment" || o.kind() == "Job" {
			out[o.id()] = o.o.at("spec", "template", "spec")
		}
	}
	return out
}

func TestK8sWorkloads(t *testing.T) {
	t.Parallel()
	objs := baseObjects(t)
	specs := podSpecs(objs)
	if len(specs) != 3 {
		t.Fatalf("want api, worker and migrate workloads, got %d", len(specs))
	}
	for id, spec := range specs {
		psc := spec.obj("securityContext")
		if !psc.boolean("runAsNonRoot") {
			t.Errorf("%s: pod securityContext.runAsNonRoot must be true", id)
		}
		if psc.at("seccompProfile").str("type") != "RuntimeDefault" {
			t.Errorf("%s: want seccompProfile RuntimeDefault", id)
		}
		if spec.str("serviceAccountName") == "" {
			t.Errorf("%s: no serviceAccountName", id)
		}
		if v, ok := spec["automountServiceAccountToken"].(bool); !ok || v {
			t.Errorf("%s: automountServiceAccountToken must be false", id)
		}
		containers := append(spec.list("initContainers"), spec.list("containers")...)
		if len(containers) == 0 {
			t.Errorf("%s: no containers", id)
		}
		for _, c := range containers {
			c := asObj(c)
			at := id + " container " + c.str("name")
			if !pinned(c.str("image")) {
				t.Errorf("%s: image %q not pinned", at, c.str("image"))
			}
			res := c.obj("resources")
			for _, part := range []string{"requests", "limits"} {
				for _, r := range []string{"cpu", "memory"} {
					if res.at(part)[r] == nil {
						t.Errorf("%s: resources.%s.%s missing", at, part, r)
					}
				}
			}
			sc := c.obj("securityContext")
			if !sc.boolean("readOnlyRootFilesystem") {
				t.Errorf("%s: readOnlyRootFilesystem must be true", at)
			}
			if v, ok := sc["allowPrivilegeEscalation"].(bool); !ok || v {
				t.Errorf("%s: allowPrivilegeEscalation must be false", at)
			}
			if drop := sc.at("capabilities").list("drop"); !slices.Contains(drop, any("ALL")) {
				t.Errorf("%s: capabilities.drop must contain ALL", at)
			}
			if len(sc.at("capabilities").list("add")) > 0 {
				t.Errorf("%s: adds capabilities", at)
			}
			for _, e := range c.list("env") {
				e := asObj(e)
				if secretLike(e.str("name")) && e.has("value") {
					t.Errorf("%s: %s has a literal value; secrets come from secretRef", at, e.str("name"))
				}
			}
		}
	}
	for _, name := range []string{"borderproof-api", "borderproof-worker"} {
		d, _ := find(objs, "Deployment", name)
		if d.o.at("spec").has("replicas") {
			t.Errorf("%s: sets spec.replicas, which fights its autoscaler", name)
		}
		for _, c := range d.o.at("spec", "template", "spec").list("containers") {
			c := asObj(c)
			if p := c.at("livenessProbe", "httpGet").str("path"); p != "/healthz" {
				t.Errorf("%s: livenessProbe path %q, want /healthz", name, p)
			}
			if p := c.at("readinessProbe", "httpGet").str("path"); p != "/readyz" {
				t.Errorf("%s: readinessProbe path %q, want /readyz", name, p)
			}
		}
		if grace, _ := d.o.at("spec", "template", "spec")["terminationGracePeriodSeconds"].(int); grace < 30 {
			t.Errorf("%s: terminationGracePeriodSeconds %d, want at least 30", name, grace)
		}
	}
	job, _ := find(objs, "Job", "borderproof-migrate")
	if args := asObj(job.o.at("spec", "template", "spec").list("containers")[0]).list("args"); len(args) != 1 || args[0] != "migrate" {
		t.Errorf("migrate Job args %v, want [migrate]", args)
	}
	if rp := job.o.at("spec", "template", "spec").str("restartPolicy"); rp != "Never" && rp != "OnFailure" {
		t.Errorf("migrate Job restartPolicy %q", rp)
	}
}

var secretNameRe = regexp.MustCompile(`(?i)(password|secret|token|api_key|private|credential)`)

func secretLike(name string) bool { return secretNameRe.MatchString(name) }

// TestK8sNoSecretValues: secrets come from AWS Secrets Manager through the
// External Secrets Operator; no manifest carries a value.
func TestK8sNoSecretValues(t *testing.T) {
	t.Parallel()
	for _, p := range filesUnder(t, path(t, "infra", "k8s"), ".yaml", ".yml") {
		for _, d := range yamlDocs(t, p) {
			o := asObj(d)
			if o == nil {
				continue // a JSON patch (list of operations)
			}
			if o.str("kind") == "Secret" {
				t.Errorf("%s: Secret object %q; use an ExternalSecret", rel(t, p), o.at("metadata").str("name"))
			}
			if o.str("kind") == "ConfigMap" {
				for k := range o.obj("data") {
					if secretLike(k) {
						t.Errorf("%s: ConfigMap key %s looks like a secret", rel(t, p), k)
					}
				}
			}
		}
	}
	for _, dir := range []string{"base", "overlays/staging", "overlays/production"} {
		k := kustomization(t, path(t, "infra", "k8s", dir))
		if k.has("secretGenerator") {
			t.Errorf("%s: secretGenerator puts secret values in the repository", dir)
		}
	}
}

func TestK8sConfigMapVariables(t *testing.T) {
	t.Parallel()
	env := knownEnv(t)
	cm, ok := find(baseObjects(t), "ConfigMap", "borderproof-config")
	if !ok {
		t.Fatal("no borderproof-config ConfigMap")
	}
	other := map[string]bool{"AWS_REGION": true, "HTTPS_PROXY": true, "HTTP_PROXY": true, "NO_PROXY": true}
	for k, v := range cm.o.obj("data") {
		if strings.HasPrefix(k, "BORDERPROOF_") && !env[k] {
			t.Errorf("ConfigMap key %s is not a variable the binary reads", k)
		} else if !strings.HasPrefix(k, "BORDERPROOF_") && !other[k] {
			t.Errorf("ConfigMap key %s is unexpected", k)
		}
		if _, isString := v.(string); !isString {
			t.Errorf("ConfigMap key %s: value must be a string, got %T", k, v)
		}
	}
}

func TestK8sReferencesResolve(t *testing.T) {
	t.Parallel()
	objs := baseObjects(t)
	secrets := map[string]bool{}
	for _, o := range objs {
		if o.kind() == "ExternalSecret" {
			store := o.o.at("spec", "secretStoreRef").str("name")
			if _, ok := find(objs, "SecretStore", store); !ok {
				t.Errorf("%s: secretStoreRef %q does not exist", o.id(), store)
			}
			target := o.o.at("spec", "target").str("name")
			if target == "" {
				target = o.name()
			}
			secrets[target] = true
			if len(o.o.at("spec").list("data")) == 0 && len(o.o.at("spec").list("dataFrom")) == 0 {
				t.Errorf("%s: neither data nor dataFrom", o.id())
			}
		}
	}
	configMaps := map[string]bool{"borderproof-partners-config": true} // generated by the overlays
	accounts := map[string]bool{}
	for _, o := range objs {
		switch o.kind() {
		case "ConfigMap":
			configMaps[o.name()] = true
		case "ServiceAccount":
			accounts[o.name()] = true
		}
	}
	for id, spec := range podSpecs(objs) {
		if sa := spec.str("serviceAccountName"); !accounts[sa] {
			t.Errorf("%s: service account %q does not exist", id, sa)
		}
		for _, c := range spec.list("containers") {
			for _, ef := range asObj(c).list("envFrom") {
				ef := asObj(ef)
				if n := ef.at("secretRef").str("name"); n != "" && !secrets[n] {
					t.Errorf("%s: secretRef %q is made by no ExternalSecret", id, n)
				}
				if n := ef.at("configMapRef").str("name"); n != "" && !configMaps[n] {
					t.Errorf("%s: configMapRef %q does not exist", id, n)
				}
			}
		}
		for _, v := range spec.list("volumes") {
			v := asObj(v)
			if n := v.at("secret").str("secretName"); n != "" && !secrets[n] {
				t.Errorf("%s: secret volume %q is made by no ExternalSecret", id, n)
			}
			if n := v.at("configMap").str("name"); n != "" && !configMaps[n] {
				t.Errorf("%s: configMap volume %q does not exist", id, n)
			}
		}
	}
	// Selectors: the Service, PDBs and HPA point at the workloads.
	labelsOf := func(name string) obj {
		d, ok := find(objs, "Deployment", name)
		if !ok {
			t.Fatalf("no Deployment %s", name)
		}
		if fmt.Sprint(d.o.at("spec", "selector", "matchLabels")) != fmt.Sprint(d.o.at("spec", "template", "metadata", "labels")) {
			t.Errorf("%s: selector and pod labels differ", name)
		}
		return d.o.at("spec", "template", "metadata", "labels")
	}
	matches := func(sel, labels obj) bool {
		if len(sel) == 0 {
			return false
		}
		for k, v := range sel {
			if labels[k] != v {
				return false
			}
		}
		return true
	}
	api, worker := labelsOf("borderproof-api"), labelsOf("borderproof-worker")
	svc, _ := find(objs, "Service", "borderproof-api")
	if !matches(svc.o.at("spec", "selector"), api) || matches(svc.o.at("spec", "selector"), worker) {
		t.Error("Service borderproof-api must select the api pods only")
	}
	for name, labels := range map[string]obj{"borderproof-api": api, "borderproof-worker": worker} {
		pdb, ok := find(objs, "PodDisruptionBudget", name)
		if !ok || !matches(pdb.o.at("spec", "selector", "matchLabels"), labels) {
			t.Errorf("PodDisruptionBudget %s does not select its pods", name)
		}
	}
	hpa, _ := find(objs, "HorizontalPodAutoscaler", "borderproof-api")
	if ref := hpa.o.at("spec", "scaleTargetRef"); ref.str("kind") != "Deployment" || ref.str("name") != "borderproof-api" {
		t.Errorf("HPA targets %v", ref)
	}
	ing, _ := find(objs, "Ingress", "borderproof-api")
	for _, r := range ing.o.at("spec").list("rules") {
		for _, p := range asObj(r).at("http").list("paths") {
			if n := asObj(p).at("backend", "service").str("name"); n != "borderproof-api" {
				t.Errorf("Ingress routes to %q; only the api is reachable from outside", n)
			}
		}
	}
}

func TestK8sKEDAScaledObject(t *testing.T) {
	t.Parallel()
	objs := baseObjects(t)
	so, ok := find(objs, "ScaledObject", "borderproof-worker")
	if !ok {
		t.Fatal("no ScaledObject")
	}
	if n := so.o.at("spec", "scaleTargetRef").str("name"); n != "borderproof-worker" {
		t.Errorf("ScaledObject targets %q", n)
	}
	lists := map[string]bool{}
	for _, tr := range so.o.at("spec").list("triggers") {
		tr := asObj(tr)
		if !strings.HasPrefix(tr.str("type"), "redis") {
			t.Errorf("trigger type %q, want a redis list trigger", tr.str("type"))
		}
		md := tr.obj("metadata")
		lists[md.str("listName")] = true
		if md.str("enableTLS") != "true" {
			t.Errorf("trigger %s: enableTLS must be true (ElastiCache requires TLS)", tr.str("name"))
		}
		if md.has("password") {
			t.Errorf("trigger %s: password in metadata; use the TriggerAuthentication", tr.str("name"))
		}
		auth := tr.at("authenticationRef").str("name")
		if _, ok := find(objs, "TriggerAuthentication", auth); !ok {
			t.Errorf("trigger %s: TriggerAuthentication %q does not exist", tr.str("name"), auth)
		}
	}
	// The queue names of internal/queue, in asynq's pending-list key form.
	src := string(readFile(t, path(t, "internal", "queue", "queue.go")))
	queues := regexp.MustCompile(`(?m)^\s*\w+\s*=\s*"([a-z]+)"\s*//`).FindAllStringSubmatch(src, -1)
	if len(queues) < 3 {
		t.Fatalf("found %d queue names in internal/queue/queue.go; the scan is broken", len(queues))
	}
	for _, q := range queues {
		key := "asynq:{" + q[1] + "}:pending"
		if !lists[key] {
			t.Errorf("no KEDA trigger on %s", key)
		}
	}
	if !lists["asynq:{default}:pending"] {
		t.Error("no trigger on asynq:{default}:pending")
	}
}

func TestK8sNetworkPolicies(t *testing.T) {
	t.Parallel()
	objs := baseObjects(t)
	deny, ok := find(objs, "NetworkPolicy", "default-deny-all")
	if !ok {
		t.Fatal("no default-deny-all NetworkPolicy")
	}
	if len(deny.o.at("spec", "podSelector")) != 0 || deny.o.at("spec").has("ingress") || deny.o.at("spec").has("egress") {
		t.Error("default-deny-all must select every pod and allow nothing")
	}
	if types := deny.o.at("spec").list("policyTypes"); !slices.Contains(types, any("Ingress")) || !slices.Contains(types, any("Egress")) {
		t.Error("default-deny-all must cover Ingress and Egress")
	}
	// Only the api admits traffic from the ingress controller.
	for _, o := range objs {
		if o.kind() != "NetworkPolicy" {
			continue
		}
		comp := o.o.at("spec", "podSelector", "matchLabels").str("app.kubernetes.io/component")
		for _, rule := range o.o.at("spec").list("ingress") {
			for _, from := range asObj(rule).list("from") {
				ns := asObj(from).at("namespaceSelector", "matchLabels").str("kubernetes.io/metadata.name")
				if ns == "ingress-nginx" && comp != "api" {
					t.Errorf("%s admits the ingress controller to %q pods", o.id(), comp)
				}
				if len(asObj(from)) == 0 {
					t.Errorf("%s: an empty from admits everything", o.id())
				}
			}
		}
		// Egress to the open internet is allowed only for webhook
		// delivery, on 443, with private ranges excluded.
		for _, rule := range o.o.at("spec").list("egress") {
			for _, to := range asObj(rule).list("to") {
				ip := asObj(to).at("ipBlock")
				if ip.str("cidr") == "0.0.0.0/0" {
					if o.name() != "worker-webhook-egress" {
						t.Errorf("%s: open internet egress", o.id())
					}
					if !slices.Contains(ip.list("except"), any("10.0.0.0/8")) || !slices.Contains(ip.list("except"), any("169.254.0.0/16")) {
						t.Errorf("%s: must exclude private and link-local ranges", o.id())
					}
					for _, p := range asObj(rule).list("ports") {
						if asObj(p)["port"] != 443 {
							t.Errorf("%s: open egress beyond port 443", o.id())
						}
					}
				}
			}
		}
	}
}

// TestKustomizations checks what `kustomize build` would need: every file
// referenced exists, every base file is referenced, patches target objects
// in the base, overlays pin the image.
func TestKustomizations(t *testing.T) {
	t.Parallel()
	base := path(t, "infra", "k8s", "base")
	listed := map[string]bool{"kustomization.yaml": true}
	for _, r := range kustomization(t, base).list("resources") {
		listed[r.(string)] = true
	}
	for _, p := range filesUnder(t, base, ".yaml", ".yml") {
		if !listed[filepath.Base(p)] {
			t.Errorf("%s is not listed in base/kustomization.yaml", rel(t, p))
		}
	}
	objs := baseObjects(t)
	for _, env := range []string{"staging", "production"} {
		dir := path(t, "infra", "k8s", "overlays", env)
		k := kustomization(t, dir)
		ns := k.str("namespace")
		if ns == "" {
			t.Errorf("%s: no namespace", env)
		}
		all := resources(t, dir)
		if n, ok := find(all, "Namespace", ns); !ok || n.name() != ns {
			t.Errorf("%s: no Namespace %q resource", env, ns)
		}
		var imageSet bool
		for _, im := range k.list("images") {
			im := asObj(im)
			if im.str("name") == "ghcr.io/borderproof/borderproof" {
				tag := im.str("newTag")
				imageSet = tag != "" && tag != "latest"
			}
		}
		if !imageSet {
			t.Errorf("%s: images must set a newTag for ghcr.io/borderproof/borderproof", env)
		}
		for _, g := range k.list("configMapGenerator") {
			for _, f := range asObj(g).list("files") {
				if _, err := os.Stat(filepath.Join(dir, f.(string))); err != nil {
					t.Errorf("%s: configMapGenerator file: %v", env, err)
				}
			}
		}
		for _, pt := range k.list("patches") {
			pt := asObj(pt)
			p := filepath.Join(dir, pt.str("path"))
			docs := yamlDocs(t, p)
			if target := pt.obj("target"); len(target) > 0 {
				// A JSON 6902 patch: a list of operations on each target.
				re := regexp.MustCompile("^(?:" + target.str("name") + ")$")
				var n int
				for _, o := range objs {
					if o.kind() == target.str("kind") && re.MatchString(o.name()) {
						n++
					}
				}
				if n == 0 {
					t.Errorf("%s: patch %s targets nothing", env, pt.str("path"))
				}
				for _, d := range docs {
					ops, ok := d.([]any)
					if !ok {
						t.Errorf("%s: %s: a targeted patch must be a list of operations", env, pt.str("path"))
						continue
					}
					for _, op := range ops {
						op := asObj(op)
						if op.str("op") == "" || !strings.HasPrefix(op.str("path"), "/") {
							t.Errorf("%s: %s: bad operation %v", env, pt.str("path"), op)
						}
					}
				}
				continue
			}
			// A strategic-merge patch: each document names a base object.
			for _, d := range docs {
				o := k8sObject{file: rel(t, p), o: asObj(d)}
				if _, ok := find(objs, o.kind(), o.name()); !ok {
					t.Errorf("%s: patch %s: no %s in the base", env, pt.str("path"), o.id())
				}
			}
		}
	}
}
