package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/distribute-go/distribute/cluster"
	"github.com/distribute-go/distribute/distributetest"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// The manifests under deploy/kubernetes and deploy/Dockerfile are checked
// here against the command they run: Docker and Kubernetes are not
// available where the tests run, so this is what keeps them true.

const deployDir = "../../deploy"

// k8sObject is the part of a Kubernetes object the checks read.
type k8sObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Spec struct {
		// Service
		ClusterIP                string        `yaml:"clusterIP"`
		PublishNotReadyAddresses bool          `yaml:"publishNotReadyAddresses"`
		Selector                 yaml.Node     `yaml:"selector"`
		Ports                    []servicePort `yaml:"ports"`
		// StatefulSet, Deployment
		ServiceName         string `yaml:"serviceName"`
		Replicas            int    `yaml:"replicas"`
		PodManagementPolicy string `yaml:"podManagementPolicy"`
		Template            struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec podSpec `yaml:"spec"`
		} `yaml:"template"`
		VolumeClaimTemplates []struct {
			Metadata struct {
				Name string `yaml:"name"`
			} `yaml:"metadata"`
		} `yaml:"volumeClaimTemplates"`
		// PodDisruptionBudget
		MaxUnavailable *int `yaml:"maxUnavailable"`
		MinAvailable   *int `yaml:"minAvailable"`
	} `yaml:"spec"`
}

type servicePort struct {
	Name       string `yaml:"name"`
	Port       int    `yaml:"port"`
	TargetPort string `yaml:"targetPort"`
	Protocol   string `yaml:"protocol"`
}

type podSpec struct {
	TerminationGracePeriodSeconds *int `yaml:"terminationGracePeriodSeconds"`
	SecurityContext               struct {
		RunAsNonRoot bool `yaml:"runAsNonRoot"`
		RunAsUser    int  `yaml:"runAsUser"`
	} `yaml:"securityContext"`
	Containers []container `yaml:"containers"`
}

type container struct {
	Name    string   `yaml:"name"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Env     []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom *struct {
			FieldRef *struct {
				FieldPath string `yaml:"fieldPath"`
			} `yaml:"fieldRef"`
			SecretKeyRef *struct {
				Name string `yaml:"name"`
				Key  string `yaml:"key"`
			} `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
		Protocol      string `yaml:"protocol"`
	} `yaml:"ports"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	Lifecycle      struct {
		PreStop *struct {
			Sleep *struct {
				Seconds int `yaml:"seconds"`
			} `yaml:"sleep"`
		} `yaml:"preStop"`
	} `yaml:"lifecycle"`
	SecurityContext struct {
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
	} `yaml:"securityContext"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

type probe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"`
	} `yaml:"httpGet"`
}

// loadManifests parses every document of every YAML file in
// deploy/kubernetes; unknown fields of known shapes are fine (the structs
// read only what is checked), a YAML error is not.
func loadManifests(t *testing.T) []k8sObject {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(deployDir, "kubernetes", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests under %s/kubernetes: %v", deployDir, err)
	}
	var objs []k8sObject
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var o k8sObject
			if err := dec.Decode(&o); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if o.Kind == "" || o.Metadata.Name == "" {
				t.Fatalf("%s: a document without kind or name", f)
			}
			objs = append(objs, o)
		}
	}
	return objs
}

// podEnv resolves a container's environment as Kubernetes does: $(VAR)
// refers to a variable defined before it in the list; fieldRef and
// secretKeyRef values are given sample values.
func podEnv(t *testing.T, where string, c container) map[string]string {
	t.Helper()
	samples := map[string]string{"metadata.name": "distribute-1", "metadata.namespace": "prod", "status.podIP": "10.20.30.40"}
	env := map[string]string{}
	ref := regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil:
			v, ok := samples[e.ValueFrom.FieldRef.FieldPath]
			if !ok {
				t.Errorf("%s: %s: unexpected fieldRef %s", where, e.Name, e.ValueFrom.FieldRef.FieldPath)
			}
			env[e.Name] = v
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			env[e.Name] = "secret-cookie"
		default:
			env[e.Name] = ref.ReplaceAllStringFunc(e.Value, func(m string) string {
				name := ref.FindStringSubmatch(m)[1]
				v, ok := env[name]
				if !ok {
					t.Errorf("%s: %s refers to $(%s), not defined before it", where, e.Name, name)
				}
				return v
			})
		}
	}
	return env
}

// nodeFlags applies a container's args and environment to the node
// command's flags, as the command does, and returns them.
func nodeFlags(t *testing.T, where string, c container, env map[string]string) *pflag.FlagSet {
	t.Helper()
	if len(c.Command) > 0 {
		t.Errorf("%s: command %v overrides the image's entrypoint /distribute", where, c.Command)
	}
	if len(c.Args) == 0 || c.Args[0] != "node" {
		t.Fatalf("%s: args %v; want node ...", where, c.Args)
	}
	cmd := newNodeCmd()
	fs := cmd.Flags()
	if err := fs.Parse(c.Args[1:]); err != nil {
		t.Fatalf("%s: args %v: %v", where, c.Args, err)
	}
	for name := range env {
		if !strings.HasPrefix(name, envPrefix) {
			continue
		}
		found := false
		fs.VisitAll(func(f *pflag.Flag) { found = found || envName(f.Name) == name })
		if !found {
			t.Errorf("%s: %s names no flag of distribute node", where, name)
		}
	}
	if err := applyEnv(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	return fs
}

func flagString(fs *pflag.FlagSet, name string) string {
	f := fs.Lookup(name)
	if f == nil {
		return ""
	}
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		return strings.Join(sv.GetSlice(), " ")
	}
	return f.Value.String()
}

func portOf(t *testing.T, where, flag, addr string) int {
	t.Helper()
	if err := checkListenAddr(addr); err != nil {
		t.Fatalf("%s: --%s %q: %v", where, flag, addr, err)
	}
	_, p, _ := net.SplitHostPort(addr)
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("%s: --%s %q: want a numeric port", where, flag, addr)
	}
	return n
}

func TestManifestsMatchTheCommand(t *testing.T) {
	objs := loadManifests(t)
	byKind := map[string][]k8sObject{}
	for _, o := range objs {
		byKind[o.Kind] = append(byKind[o.Kind], o)
	}
	services := map[string]k8sObject{}
	for _, s := range byKind["Service"] {
		services[s.Metadata.Name] = s
		if s.Spec.ClusterIP != "None" || !s.Spec.PublishNotReadyAddresses {
			t.Errorf("Service %s: clusterIP %q, publishNotReadyAddresses %v; want a headless service publishing pods that are not ready (they join before they are ready)",
				s.Metadata.Name, s.Spec.ClusterIP, s.Spec.PublishNotReadyAddresses)
		}
	}
	if len(byKind["StatefulSet"]) == 0 || len(byKind["PodDisruptionBudget"]) == 0 {
		t.Fatalf("want a StatefulSet and a PodDisruptionBudget; have %v", slices.Collect(maps.Keys(byKind)))
	}
	var workloads []k8sObject
	workloads = append(workloads, byKind["StatefulSet"]...)
	workloads = append(workloads, byKind["Deployment"]...)
	for _, w := range workloads {
		where := w.Kind + " " + w.Metadata.Name
		spec := w.Spec.Template.Spec
		if !spec.SecurityContext.RunAsNonRoot || spec.SecurityContext.RunAsUser == 0 {
			t.Errorf("%s: want runAsNonRoot and a non-zero runAsUser", where)
		}
		if len(spec.Containers) != 1 {
			t.Fatalf("%s: %d containers; want 1", where, len(spec.Containers))
		}
		c := spec.Containers[0]
		where += " container " + c.Name
		env := podEnv(t, where, c)
		cookieFromSecret := false
		for _, e := range c.Env {
			if e.Name == "DISTRIBUTE_COOKIE" {
				cookieFromSecret = e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil
			}
		}
		if !cookieFromSecret {
			t.Errorf("%s: DISTRIBUTE_COOKIE must come from a Secret (secretKeyRef)", where)
		}
		fs := nodeFlags(t, where, c, env)
		name := flagString(fs, "name")
		if err := checkNodeName(name); err != nil {
			t.Errorf("%s: --name %q: %v", where, name, err)
		}
		specs := fs.Lookup("discover").Value.(pflag.SliceValue).GetSlice()
		if len(specs) == 0 {
			t.Errorf("%s: no --discover", where)
		}
		for _, spec := range specs {
			src, err := cluster.ParseDiscovery(spec)
			if err != nil {
				t.Errorf("%s: --discover %s: %v", where, spec, err)
				continue
			}
			checkDiscoveryTarget(t, where, src, services, name)
		}
		if v := flagString(fs, "discover-interval"); v == "" {
			t.Errorf("%s: no discover interval", where)
		}

		// Ports: the container's named ports are the ones the flags use.
		ports := map[string]int{}
		for _, p := range c.Ports {
			ports[p.Name+"/"+p.Protocol] = p.ContainerPort
		}
		epmdPort, _ := strconv.Atoi(flagString(fs, "epmd-port"))
		if epmdPort == 0 {
			epmdPort = 4369
		}
		want := map[string]int{
			"epmd/TCP":       epmdPort,
			"dist/TCP":       portOf(t, where, "listen", flagString(fs, "listen")),
			"gossip/TCP":     portOf(t, where, "gossip", flagString(fs, "gossip")),
			"gossip-udp/UDP": portOf(t, where, "gossip", flagString(fs, "gossip")),
			"http/TCP":       portOf(t, where, "http", flagString(fs, "http")),
		}
		for k, v := range want {
			if ports[k] != v {
				t.Errorf("%s: container port %s = %d; the flags use %d", where, k, ports[k], v)
			}
		}
		for _, pr := range []struct {
			what string
			p    *probe
			path string
		}{{"readinessProbe", c.ReadinessProbe, "/readyz"}, {"livenessProbe", c.LivenessProbe, "/healthz"}} {
			if pr.p == nil || pr.p.HTTPGet == nil {
				t.Errorf("%s: no %s httpGet", where, pr.what)
				continue
			}
			if pr.p.HTTPGet.Path != pr.path || pr.p.HTTPGet.Port != "http" {
				t.Errorf("%s: %s GET %s on port %s; want %s on http", where, pr.what, pr.p.HTTPGet.Path, pr.p.HTTPGet.Port, pr.path)
			}
		}

		// Termination: the pod's grace covers the preStop hook, the
		// node's grace and the stop after it.
		grace, err := time.ParseDuration(flagString(fs, "shutdown-grace"))
		if err != nil {
			t.Fatalf("%s: --shutdown-grace: %v", where, err)
		}
		preStop := 0
		if ps := c.Lifecycle.PreStop; ps != nil && ps.Sleep != nil {
			preStop = ps.Sleep.Seconds
		} else {
			t.Errorf("%s: no preStop sleep hook", where)
		}
		need := time.Duration(preStop)*time.Second + grace + stopTimeout
		tg := 30 // Kubernetes' default
		if p := spec.TerminationGracePeriodSeconds; p != nil {
			tg = *p
		}
		if time.Duration(tg)*time.Second < need {
			t.Errorf("%s: terminationGracePeriodSeconds %d; want at least %v (preStop %ds + --shutdown-grace %v + %v)", where, tg, need, preStop, grace, stopTimeout)
		}

		if w.Kind == "StatefulSet" {
			checkVoters(t, where, w, fs, c, services)
		}
	}
}

// checkDiscoveryTarget checks that a source names a headless service of
// the manifests, in the way the node's name can be found there.
func checkDiscoveryTarget(t *testing.T, where string, src cluster.Discovery, services map[string]k8sObject, name string) {
	t.Helper()
	var host string
	switch s := src.(type) {
	case cluster.DNS:
		host = s.Name
	case cluster.SRV:
		parts := strings.SplitN(s.Name, ".", 3)
		if len(parts) < 3 || !strings.HasPrefix(parts[0], "_") || parts[1] != "_tcp" {
			t.Errorf("%s: --discover %s: want _PORT._tcp.SERVICE...", where, src)
			return
		}
		host = parts[2]
		svc := strings.SplitN(host, ".", 2)[0]
		port := strings.TrimPrefix(parts[0], "_")
		ok := false
		for _, p := range services[svc].Spec.Ports {
			ok = ok || (p.Name == port && p.Protocol == "TCP")
		}
		if !ok {
			t.Errorf("%s: --discover %s: service %s has no TCP port named %s (no such SRV records)", where, src, svc, port)
		}
	default:
		t.Errorf("%s: --discover %s: want dns: or srv: in a cluster", where, src)
		return
	}
	svc := strings.SplitN(host, ".", 2)[0]
	if _, ok := services[svc]; !ok {
		t.Errorf("%s: --discover %s: no Service %s in the manifests", where, src, svc)
	}
	if !strings.HasSuffix(host, ".prod.svc.cluster.local.") {
		t.Errorf("%s: --discover %s: want SERVICE.$(POD_NAMESPACE).svc.cluster.local. (absolute)", where, src)
	}
	alive, _, _ := strings.Cut(name, "@")
	if alive != "distribute" {
		t.Errorf("%s: node name %s: every node shares the alive part distribute, which discovery gives its peers", where, name)
	}
}

// checkVoters checks the StatefulSet: stable names through its headless
// service, the data dir on its volume, election with as many voters as
// replicas, the PodDisruptionBudget keeping a quorum.
func checkVoters(t *testing.T, where string, w k8sObject, fs *pflag.FlagSet, c container, services map[string]k8sObject) {
	t.Helper()
	svc, ok := services[w.Spec.ServiceName]
	if !ok {
		t.Fatalf("%s: serviceName %q is not a Service of the manifests", where, w.Spec.ServiceName)
	}
	if w.Spec.PodManagementPolicy != "Parallel" {
		t.Errorf("%s: podManagementPolicy %q; want Parallel (a voter alone is never ready)", where, w.Spec.PodManagementPolicy)
	}
	wantName := fmt.Sprintf("distribute@distribute-1.%s.prod.svc.cluster.local", svc.Metadata.Name)
	if got := flagString(fs, "name"); got != wantName {
		t.Errorf("%s: --name %s; want the pod's stable name %s", where, got, wantName)
	}
	if flagString(fs, "election") != "true" {
		t.Errorf("%s: the voters run without --election", where)
	}
	expect, _ := strconv.Atoi(flagString(fs, "expect"))
	if expect != w.Spec.Replicas {
		t.Errorf("%s: --expect %d with %d replicas", where, expect, w.Spec.Replicas)
	}
	dataDir := flagString(fs, "data-dir")
	mounted := false
	for _, m := range c.VolumeMounts {
		for _, v := range w.Spec.VolumeClaimTemplates {
			mounted = mounted || (m.Name == v.Metadata.Name && m.MountPath == dataDir)
		}
	}
	if dataDir == "" || !mounted {
		t.Errorf("%s: --data-dir %q is not a volume claimed per pod", where, dataDir)
	}
	for _, s := range []k8sObject{svc} {
		var sel map[string]string
		s.Spec.Selector.Decode(&sel)
		for k, v := range sel {
			if w.Spec.Template.Metadata.Labels[k] != v {
				t.Errorf("Service %s selects %s=%s, which the voters' pods lack", s.Metadata.Name, k, v)
			}
		}
	}
	for _, p := range loadManifests(t) {
		if p.Kind != "PodDisruptionBudget" {
			continue
		}
		var sel struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		}
		p.Spec.Selector.Decode(&sel)
		for k, v := range sel.MatchLabels {
			if w.Spec.Template.Metadata.Labels[k] != v {
				t.Errorf("PodDisruptionBudget %s selects %s=%s, which the voters' pods lack", p.Metadata.Name, k, v)
			}
		}
		quorum := expect/2 + 1
		switch {
		case p.Spec.MaxUnavailable != nil && expect-*p.Spec.MaxUnavailable < quorum,
			p.Spec.MinAvailable != nil && *p.Spec.MinAvailable < quorum,
			p.Spec.MaxUnavailable == nil && p.Spec.MinAvailable == nil:
			t.Errorf("PodDisruptionBudget %s lets the voters lose their quorum of %d", p.Metadata.Name, quorum)
		}
	}
}

// TestDockerfile checks the Dockerfile's promises: a static binary, a
// non-root user, the ports the manifests use, the entrypoint they rely on.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(deployDir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var froms []string
	var user, entry string
	var expose []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "FROM":
			froms = append(froms, f[1])
		case "USER":
			user = f[1]
		case "EXPOSE":
			expose = append(expose, f[1:]...)
		case "ENTRYPOINT":
			entry = strings.Join(f[1:], " ")
		}
	}
	text := string(b)
	if len(froms) < 2 || !strings.Contains(text, "CGO_ENABLED=0") || !strings.Contains(text, "./cmd/distribute") {
		t.Errorf("want a multi-stage build of ./cmd/distribute with CGO_ENABLED=0; FROM %v", froms)
	}
	if last := froms[len(froms)-1]; !strings.Contains(last, "distroless/static") && last != "scratch" {
		t.Errorf("final stage FROM %s; want distroless static or scratch", last)
	}
	if uid, _, _ := strings.Cut(user, ":"); user == "" || uid == "0" || uid == "root" {
		t.Errorf("USER %q; want a non-root user", user)
	}
	if entry != `["/distribute"]` {
		t.Errorf("ENTRYPOINT %s; the manifests run /distribute with args node", entry)
	}
	for _, o := range loadManifests(t) {
		for _, c := range o.Spec.Template.Spec.Containers {
			for _, p := range c.Ports {
				if want := fmt.Sprintf("%d/%s", p.ContainerPort, strings.ToLower(p.Protocol)); !slices.Contains(expose, want) {
					t.Errorf("%s %s uses port %s, which the Dockerfile does not EXPOSE (%v)", o.Kind, o.Metadata.Name, want, expose)
				}
			}
		}
	}
}

// TestProbePathsServed: the probes' paths are served by `distribute node
// --http` (a status of the health checks, not a 404).
func TestProbePathsServed(t *testing.T) {
	var paths []string
	for _, o := range loadManifests(t) {
		for _, c := range o.Spec.Template.Spec.Containers {
			for _, p := range []*probe{c.ReadinessProbe, c.LivenessProbe} {
				if p != nil && p.HTTPGet != nil && !slices.Contains(paths, p.HTTPGet.Path) {
					paths = append(paths, p.HTTPGet.Path)
				}
			}
		}
	}
	if len(paths) == 0 {
		t.Fatal("no probe paths in the manifests")
	}
	port := distributetest.StartEpmd(t)
	httpAddr := fmt.Sprintf("127.0.0.1:%d", distributetest.FreePort(t))
	startNodeProc(t, port, "probes@localhost", "--http", httpAddr, "--profile", "local")
	get := func(path string) int {
		resp, err := http.Get("http://" + httpAddr + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := get("/no-such-path"); got != http.StatusNotFound {
		t.Fatalf("GET /no-such-path = %d; want 404 (to tell a served path)", got)
	}
	for _, p := range paths {
		if got := get(p); got != http.StatusOK && got != http.StatusServiceUnavailable {
			t.Errorf("GET %s = %d; want 200 or 503 from the health checks", p, got)
		}
	}
}
