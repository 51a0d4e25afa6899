package packaging

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	k8sjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/liaison-project/liaison/gateway/config"
)

// EnvHelmBin is the helm binary devstack.sh builds (helm.sh/helm/v4/cmd/helm).
const EnvHelmBin = "LIAISON_TEST_HELM_BIN"

// manifests is what one `helm template` rendered, by kind and name.
type manifests struct {
	kinds       []string // "Kind/name", in order
	configMap   *corev1.ConfigMap
	statefulSet *appsv1.StatefulSet
	services    []*corev1.Service
	sa          *corev1.ServiceAccount
	pdb         *policyv1.PodDisruptionBudget
	netpol      *networkingv1.NetworkPolicy
}

// decodeManifest decodes one YAML document strictly into the Kubernetes
// API type its apiVersion and kind name, the way the API server's strict
// field validation does (sigs.k8s.io/json: case-sensitive, unknown and
// duplicate fields are errors). An unknown kind is an error too: the chart
// must not render anything this test does not check.
func decodeManifest(doc []byte, m *manifests) error {
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	var tm struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := k8sjson.UnmarshalCaseSensitivePreserveInts(js, &tm); err != nil {
		return err
	}
	var obj any
	switch tm.APIVersion + "/" + tm.Kind {
	case "v1/ConfigMap":
		m.configMap = &corev1.ConfigMap{}
		obj = m.configMap
	case "v1/ServiceAccount":
		m.sa = &corev1.ServiceAccount{}
		obj = m.sa
	case "v1/Service":
		s := &corev1.Service{}
		m.services = append(m.services, s)
		obj = s
	case "apps/v1/StatefulSet":
		m.statefulSet = &appsv1.StatefulSet{}
		obj = m.statefulSet
	case "policy/v1/PodDisruptionBudget":
		m.pdb = &policyv1.PodDisruptionBudget{}
		obj = m.pdb
	case "networking.k8s.io/v1/NetworkPolicy":
		m.netpol = &networkingv1.NetworkPolicy{}
		obj = m.netpol
	default:
		return fmt.Errorf("unexpected apiVersion/kind %q/%q", tm.APIVersion, tm.Kind)
	}
	strict, err := k8sjson.UnmarshalStrict(js, obj, k8sjson.DisallowDuplicateFields, k8sjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	if len(strict) > 0 {
		return fmt.Errorf("%s: %v", tm.Kind, strict)
	}
	var meta struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
	}
	if err := k8sjson.UnmarshalCaseSensitivePreserveInts(js, &meta); err != nil {
		return err
	}
	if meta.Metadata.Name == "" {
		return fmt.Errorf("%s without metadata.name", tm.Kind)
	}
	// What the API server's validation would refuse in names and labels.
	var bad []string
	if tm.Kind == "Service" {
		bad = append(bad, validation.IsDNS1035Label(meta.Metadata.Name)...)
	} else {
		bad = append(bad, validation.IsDNS1123Subdomain(meta.Metadata.Name)...)
	}
	for _, kv := range []map[string]string{meta.Metadata.Labels, meta.Metadata.Annotations} {
		for k := range kv {
			bad = append(bad, validation.IsQualifiedName(k)...)
		}
	}
	for _, v := range meta.Metadata.Labels {
		bad = append(bad, validation.IsValidLabelValue(v)...)
	}
	if len(bad) > 0 {
		return fmt.Errorf("%s/%s: %s", tm.Kind, meta.Metadata.Name, strings.Join(bad, "; "))
	}
	m.kinds = append(m.kinds, tm.Kind+"/"+meta.Metadata.Name)
	return nil
}

var docSep = regexp.MustCompile(`(?m)^---\s*$`)

func decodeAll(t *testing.T, out []byte) *manifests {
	t.Helper()
	m := &manifests{}
	for i, doc := range docSep.Split(string(out), -1) {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		if err := decodeManifest([]byte(doc), m); err != nil {
			t.Fatalf("rendered document %d: %v\n%s", i, err, doc)
		}
	}
	return m
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

func helm(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(bin, args...)
	// A private home: no repositories, plugins or cache of the user's.
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home+"/cache", "HELM_CONFIG_HOME="+home+"/config", "HELM_DATA_HOME="+home+"/data")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return out
}

// TestDecodeManifestStrict: the strict decoding this test relies on does
// reject what the API server would.
func TestDecodeManifestStrict(t *testing.T) {
	for name, doc := range map[string]string{
		"unknown field":   "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: a}\nautomountToken: true\n",
		"wrong case":      "apiVersion: v1\nkind: ServiceAccount\nmetadata: {Name: a}\n",
		"unknown kind":    "apiVersion: v1\nkind: Gateway\nmetadata: {name: a}\n",
		"wrong version":   "apiVersion: apps/v1beta1\nkind: StatefulSet\nmetadata: {name: a}\n",
		"wrong type":      "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: a}\nspec: {replicas: two}\n",
		"duplicate field": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {a: b}\ndata: {c: d}\n",
		"nameless":        "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n",
		"bad name":        "apiVersion: v1\nkind: Service\nmetadata: {name: Liaison_1}\n",
		"bad label":       "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, labels: {app: \"a b\"}}\n",
	} {
		if err := decodeManifest([]byte(doc), &manifests{}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := decodeManifest([]byte("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: a}\nautomountServiceAccountToken: false\n"), &manifests{}); err != nil {
		t.Errorf("a valid ServiceAccount: %v", err)
	}
}

func TestHelmChart(t *testing.T) {
	bin := tool(t, EnvHelmBin, "")
	chart := filepath.Join(repoRoot(t), "deploy", "helm", "liaison")
	ha := filepath.Join(chart, "ci", "ha-values.yaml")

	helm(t, bin, "lint", "--strict", chart)
	helm(t, bin, "lint", "--strict", "--values", ha, chart)

	t.Run("default values", func(t *testing.T) {
		m := decodeAll(t, helm(t, bin, "template", "rel", chart, "--namespace", "liaison"))
		c := checkChart(t, m, chartWant{
			replicas: 2, fullname: "rel-liaison", vaultMethod: "kubernetes", persistence: true, pdb: true, sa: true,
			agencyPort: 8443, adminPort: 9443, image: "ghcr.io/liaison-project/liaison:0.1.0",
			kinds: []string{"ServiceAccount/rel-liaison", "ConfigMap/rel-liaison", "Service/rel-liaison", "Service/rel-liaison-admin",
				"Service/rel-liaison-replicas", "StatefulSet/rel-liaison", "PodDisruptionBudget/rel-liaison", "NetworkPolicy/rel-liaison"},
		})
		if c.GatewayID != "gw-example" || c.Store.MinIO.Prefix != "gw-example/" || c.Index.Postgres.MaxConns != 16 || len(c.TLS.CRLs) != 0 || c.Officers.JWKSDir != "" {
			t.Errorf("default config: %+v", c)
		}
	})

	t.Run("non-default values", func(t *testing.T) {
		m := decodeAll(t, helm(t, bin, "template", "rel", chart, "--namespace", "nca", "--values", ha))
		c := checkChart(t, m, chartWant{
			replicas: 3, fullname: "liaison-nca", vaultMethod: "approle", persistence: false, pdb: true, sa: false,
			agencyPort: 10443, adminPort: 9090, image: "registry.example.internal/liaison:v1.2.3",
			kinds: []string{"ConfigMap/liaison-nca", "Service/liaison-nca", "Service/liaison-nca-admin",
				"Service/liaison-nca-replicas", "StatefulSet/liaison-nca", "PodDisruptionBudget/liaison-nca", "NetworkPolicy/liaison-nca"},
		})
		if c.GatewayID != "gw-nca" || c.Store.MinIO.Prefix != "nca/" || c.Store.MinIO.Region != "eu-west-2" || c.Limits.RatePerAgency != 500 ||
			len(c.TLS.ClientCAs) != 3 || len(c.TLS.CRLs) != 1 || c.TLS.MinVersion != "1.2" || c.Officers.JWKSDir == "" ||
			c.Keys.Vault.CAFile == "" || c.Store.MinIO.CAFile == "" || c.Keys.Vault.Auth.RoleID != "0b7e5d6a-liaison" || c.Log.Level != "debug" {
			t.Errorf("non-default config: %+v", c)
		}
		if m.statefulSet.Spec.Template.Spec.ServiceAccountName != "liaison-existing" || m.pdb.Spec.MaxUnavailable.IntValue() != 2 {
			t.Errorf("service account %q, PDB %v", m.statefulSet.Spec.Template.Spec.ServiceAccountName, m.pdb.Spec.MaxUnavailable)
		}
	})

	// The config check can fail: a misspelt extraConfig key renders, but
	// the gateway's loader rejects it, and so does this test.
	t.Run("misspelt extra config", func(t *testing.T) {
		m := decodeAll(t, helm(t, bin, "template", "rel", chart, "--set", "extraConfig.limits.rate_per_agncy=5"))
		if _, err := loadRenderedConfig(t, m); err == nil || !strings.Contains(err.Error(), "rate_per_agncy") {
			t.Errorf("a misspelt key loaded: %v", err)
		}
	})

	// `required` values stop the render with the value named.
	t.Run("token auth without a secret", func(t *testing.T) {
		cmd := exec.Command(bin, "template", "rel", chart, "--set", "vault.auth.method=token")
		cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+t.TempDir())
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "vault.auth.tokenSecret.name") {
			t.Errorf("rendered without a token secret: %v\n%s", err, out)
		}
	})
}

type chartWant struct {
	replicas              int32
	fullname, vaultMethod string
	persistence, pdb, sa  bool
	agencyPort, adminPort int32
	image                 string
	kinds                 []string
}

// loadRenderedConfig loads the ConfigMap's liaison.yaml with the gateway's
// own loader, with the environment the StatefulSet gives the container
// (each Secret reference replaced by a placeholder value), so an unknown
// key or LIAISON_* variable is an error here as at start.
func loadRenderedConfig(t *testing.T, m *manifests) (config.Config, error) {
	t.Helper()
	if m.configMap == nil || m.statefulSet == nil {
		t.Fatal("no ConfigMap or StatefulSet rendered")
	}
	text, ok := m.configMap.Data["liaison.yaml"]
	if !ok {
		t.Fatal("the ConfigMap has no liaison.yaml")
	}
	path := filepath.Join(t.TempDir(), "liaison.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, e := range m.statefulSet.Spec.Template.Spec.Containers[0].Env {
		v := e.Value
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			// Each replica's audit node id is its pod name (docs/replicas.md).
			if e.Name != "LIAISON_AUDIT_NODE_ID" || e.ValueFrom.FieldRef.FieldPath != "metadata.name" {
				t.Errorf("env %s: unexpected field reference %s", e.Name, e.ValueFrom.FieldRef.FieldPath)
			}
			env = append(env, e.Name+"=rel-liaison-0")
			continue
		}
		if e.ValueFrom != nil {
			if e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name == "" || e.ValueFrom.SecretKeyRef.Key == "" {
				t.Errorf("env %s: not from a named Secret key", e.Name)
			}
			v = "from-secret"
			if e.Name == "LIAISON_INDEX_POSTGRES_DSN" {
				v = "postgres://liaison@db:5432/liaison?sslmode=verify-full"
			}
		}
		env = append(env, e.Name+"="+v)
	}
	return config.Load(path, "/var/lib/liaison", env)
}

func checkChart(t *testing.T, m *manifests, w chartWant) config.Config {
	t.Helper()
	slices.Sort(m.kinds)
	slices.Sort(w.kinds)
	if !slices.Equal(m.kinds, w.kinds) {
		t.Errorf("rendered %v, want %v", m.kinds, w.kinds)
	}
	cfg, err := loadRenderedConfig(t, m)
	if err != nil {
		t.Fatalf("the rendered liaison.yaml does not load: %v\n%s", err, m.configMap.Data["liaison.yaml"])
	}
	if cfg.Audit.NodeID == "" {
		t.Error("replicas share the gateway id but get no audit.node_id: their shipped audit copies would collide")
	}
	if cfg.Keys.Provider != "vault" || cfg.Store.Backend != "minio" || cfg.Index.Backend != "postgres" || cfg.Keys.Vault.Auth.Method != w.vaultMethod {
		t.Errorf("config: keys %s (%s), store %s, index %s", cfg.Keys.Provider, cfg.Keys.Vault.Auth.Method, cfg.Store.Backend, cfg.Index.Backend)
	}
	if cfg.Store.MinIO.Credentials.AccessKey != "from-secret" || cfg.Store.MinIO.Credentials.SecretKey != "from-secret" || !strings.HasPrefix(cfg.Index.Postgres.DSN, "postgres://") {
		t.Error("the MinIO credentials or the index DSN do not come from the Secrets")
	}
	if strings.Contains(m.configMap.Data["liaison.yaml"], "from-secret") || strings.Contains(m.configMap.Data["liaison.yaml"], "secret_key") {
		t.Error("a secret in the ConfigMap")
	}

	sts := m.statefulSet
	pod := sts.Spec.Template.Spec
	if sts.Spec.Replicas == nil || *sts.Spec.Replicas != w.replicas {
		t.Errorf("replicas %v, want %d", sts.Spec.Replicas, w.replicas)
	}
	labels := sts.Spec.Template.Labels
	if !selects(sts.Spec.Selector.MatchLabels, labels) {
		t.Errorf("the StatefulSet's selector %v does not select its pods %v", sts.Spec.Selector.MatchLabels, labels)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Containers))
	}
	c := pod.Containers[0]
	if c.Image != w.image || !slices.Equal(c.Args, []string{"serve", "--config", "/etc/liaison/liaison.yaml", "--data-dir", "/var/lib/liaison"}) {
		t.Errorf("image %s args %v", c.Image, c.Args)
	}

	// Security: non-root, read-only root, no capabilities, RuntimeDefault seccomp.
	psc, csc := pod.SecurityContext, c.SecurityContext
	if psc == nil || csc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != 65532 ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault ||
		csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem || csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation ||
		csc.Capabilities == nil || !slices.Equal(csc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(csc.Capabilities.Add) != 0 ||
		csc.SeccompProfile == nil || csc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("security context: pod %+v container %+v", psc, csc)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %+v", c.Resources)
	}

	for k, v := range labels {
		if bad := append(validation.IsQualifiedName(k), validation.IsValidLabelValue(v)...); len(bad) > 0 {
			t.Errorf("pod label %s=%s: %v", k, v, bad)
		}
	}
	// Ports: the container's named ports are the ports liaison.yaml listens on.
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
		if bad := validation.IsValidPortName(p.Name); len(bad) > 0 {
			t.Errorf("port name %s: %v", p.Name, bad)
		}
	}
	if ports["agency"] != w.agencyPort || ports["admin"] != w.adminPort ||
		cfg.Listen != "0.0.0.0:"+strconv.Itoa(int(w.agencyPort)) || cfg.AdminListen != "0.0.0.0:"+strconv.Itoa(int(w.adminPort)) {
		t.Errorf("container ports %v, config listen %s admin %s", ports, cfg.Listen, cfg.AdminListen)
	}
	// Probes: liveness and startup on /healthz, readiness on /readyz, all on the admin port.
	for name, pr := range map[string]struct {
		p    *corev1.Probe
		path string
	}{"liveness": {c.LivenessProbe, "/healthz"}, "readiness": {c.ReadinessProbe, "/readyz"}, "startup": {c.StartupProbe, "/healthz"}} {
		if pr.p == nil || pr.p.HTTPGet == nil || pr.p.HTTPGet.Path != pr.path || pr.p.HTTPGet.Port.String() != "admin" {
			t.Errorf("%s probe %+v, want GET %s on admin", name, pr.p, pr.path)
		}
	}

	// Every file liaison.yaml names lies on a volume mounted from the right source.
	mounts := map[string]string{} // mount path → volume
	for _, vm := range c.VolumeMounts {
		mounts[vm.MountPath] = vm.Name
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	for _, vct := range sts.Spec.VolumeClaimTemplates {
		volumes[vct.Name] = corev1.Volume{Name: vct.Name}
	}
	for _, vm := range c.VolumeMounts {
		if _, ok := volumes[vm.Name]; !ok {
			t.Errorf("mount %s: no volume %s", vm.MountPath, vm.Name)
		}
	}
	// mountOf is the volume mounted at the nearest directory above f.
	mountOf := func(f string) string {
		for d := filepath.Dir(f); d != "/" && d != "."; d = filepath.Dir(d) {
			if v, ok := mounts[d]; ok {
				return v
			}
		}
		return ""
	}
	files := map[string]string{"tls.cert": cfg.TLS.Cert, "tls.key": cfg.TLS.Key, "signing.key": cfg.Signing.Key, "audit.path": cfg.Audit.Path + "/x",
		"audit.signing_key": cfg.Audit.SigningKey, "index.sqlite.path (unused)": cfg.Index.SQLite.Path}
	for i, f := range cfg.TLS.ClientCAs {
		files[fmt.Sprintf("tls.client_cas[%d]", i)] = f
	}
	for i, f := range cfg.TLS.CRLs {
		files[fmt.Sprintf("tls.crls[%d]", i)] = f
	}
	if cfg.Officers.JWKSDir != "" {
		files["officers.jwks_dir"] = cfg.Officers.JWKSDir + "/x"
	}
	if cfg.Keys.Vault.CAFile != "" {
		files["keys.vault.ca_file"] = cfg.Keys.Vault.CAFile
	}
	if cfg.Store.MinIO.CAFile != "" {
		files["store.minio.ca_file"] = cfg.Store.MinIO.CAFile
	}
	for key, f := range files {
		if mountOf(f) == "" {
			t.Errorf("%s = %s: on the read-only root, no volume mounted above it", key, f)
		}
	}
	if mountOf(cfg.Audit.Path+"/x") != "data" || mountOf(cfg.Audit.SigningKey) != "data" {
		t.Errorf("the audit log and its key are not on the per-replica data volume")
	}
	if mounts["/etc/liaison/liaison.yaml"] != "config" || volumes["config"].ConfigMap == nil || volumes["config"].ConfigMap.Name != m.configMap.Name {
		t.Error("liaison.yaml is not mounted from the chart's ConfigMap")
	}
	if mounts["/tmp"] == "" || mounts["/var/lib/liaison"] != "data" {
		t.Errorf("writable mounts (read-only root): %v", mounts)
	}
	if hasClaim := len(sts.Spec.VolumeClaimTemplates) == 1 && sts.Spec.VolumeClaimTemplates[0].Name == "data"; hasClaim != w.persistence ||
		(!w.persistence && volumes["data"].EmptyDir == nil) {
		t.Errorf("persistence %v: claim templates %v", w.persistence, sts.Spec.VolumeClaimTemplates)
	}

	// Services select the pods and target named ports the container has.
	if len(m.services) != 3 {
		t.Fatalf("%d services", len(m.services))
	}
	for _, s := range m.services {
		if !selects(s.Spec.Selector, labels) {
			t.Errorf("service %s selects %v, not the pods %v", s.Name, s.Spec.Selector, labels)
		}
		for _, p := range s.Spec.Ports {
			if _, ok := ports[p.TargetPort.String()]; !ok {
				t.Errorf("service %s targets port %s, which the container lacks", s.Name, p.TargetPort.String())
			}
		}
	}
	if sts.Spec.ServiceName != w.fullname+"-replicas" || m.services[2].Spec.ClusterIP != "None" {
		t.Errorf("the StatefulSet's service %s is not the headless one", sts.Spec.ServiceName)
	}
	if (m.pdb != nil) != w.pdb || (m.pdb != nil && !selects(m.pdb.Spec.Selector.MatchLabels, labels)) {
		t.Errorf("PodDisruptionBudget %+v", m.pdb)
	}
	if m.netpol == nil || !selects(m.netpol.Spec.PodSelector.MatchLabels, labels) || len(m.netpol.Spec.Ingress) != 2 || len(m.netpol.Spec.Egress) < 2 ||
		!slices.Equal(m.netpol.Spec.PolicyTypes, []networkingv1.PolicyType{"Ingress", "Egress"}) {
		t.Errorf("NetworkPolicy %+v", m.netpol)
	} else if from := m.netpol.Spec.Ingress[1].From; len(from) == 0 || from[0].NamespaceSelector == nil {
		t.Error("the admin port is open to every namespace")
	}
	if (m.sa != nil) != w.sa || (m.sa != nil && pod.ServiceAccountName != m.sa.Name) {
		t.Errorf("ServiceAccount %v, pod's %s", m.sa, pod.ServiceAccountName)
	}
	kube := w.vaultMethod == "kubernetes"
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken != kube {
		t.Errorf("automountServiceAccountToken %v with vault auth %s", pod.AutomountServiceAccountToken, w.vaultMethod)
	}
	return cfg
}

// selects reports whether every label of sel is on labels (and sel is not empty).
func selects(sel, labels map[string]string) bool {
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
