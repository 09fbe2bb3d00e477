// Command loadgen drives the API server for bench/apiserver.sh: it renders the
// chart's webhook specification as webhook configurations pointing at a given
// server, and sends Pod or Secret creates as server-side dry runs (the whole
// admission chain runs, etcd is not written) at a fixed concurrency, with
// client-go as a controller would. Each run prints one JSON object: the
// client's latencies and rate, the API server's own admission histograms
// (their _sum and _count, scraped from /metrics before and after), and the CPU
// time of the processes it is told to watch.
//
//	loadgen webhooks -spec webhooks.yaml -url https://127.0.0.1:PORT -ca ca.crt [-validating=false] [-mutating=false] [-domain D] [-name N]
//	loadgen run -kubeconfig F -object pod.yaml -namespace NS -count N -concurrency C [-warmup W]
//	            [-watch name=PID,...] [-clk-tck 100] [-expect-webhooks a,b] [-expect-policy P -probe FILE]
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: loadgen webhooks|run [flags] (see the package comment)")
	}
	var err error
	switch os.Args[1] {
	case "webhooks":
		err = webhooks(os.Args[2:])
	case "run":
		err = run(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q: want webhooks or run", os.Args[1])
	}
	if err != nil {
		fail(err.Error())
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "loadgen: "+msg)
	os.Exit(1)
}

// webhooks: the chart's spec ConfigMap data (`configurations: [{kind, name,
// webhooks}]`) as a v1 List of webhook configurations calling -url with -ca.
func webhooks(args []string) error {
	fs := flag.NewFlagSet("webhooks", flag.ExitOnError)
	spec := fs.String("spec", "", "the chart's webhooks.yaml (data of the <release>-webhooks ConfigMap)")
	base := fs.String("url", "", "the server's base URL, https://HOST:PORT; each webhook keeps its path")
	caFile := fs.String("ca", "", "PEM CA that signs the server's certificate (becomes the caBundle)")
	validating := fs.Bool("validating", true, "keep the validating webhooks")
	mutating := fs.Bool("mutating", true, "keep the mutating webhooks")
	domain := fs.String("domain", "", "replace the webhook names' secretgate.io suffix (and the configurations' names) with this")
	rename := fs.String("name", "", "name of the configurations (default: the domain, else the chart's)")
	_ = fs.Parse(args)
	raw, err := os.ReadFile(*spec)
	if err != nil {
		return err
	}
	ca, err := os.ReadFile(*caFile)
	if err != nil {
		return err
	}
	target, err := url.Parse(*base)
	if err != nil || target.Host == "" {
		return fmt.Errorf("-url %q: want https://HOST:PORT", *base)
	}
	var doc struct {
		Configurations []struct {
			Kind     string           `json:"kind"`
			Name     string           `json:"name"`
			Webhooks []map[string]any `json:"webhooks"`
		} `json:"configurations"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("%s: %v", *spec, err)
	}
	var items []map[string]any
	for _, c := range doc.Configurations {
		keep := (c.Kind == "ValidatingWebhookConfiguration" && *validating) || (c.Kind == "MutatingWebhookConfiguration" && *mutating)
		hooks := []map[string]any{}
		for _, w := range c.Webhooks {
			if !keep {
				break
			}
			cc, _ := w["clientConfig"].(map[string]any)
			path := "/"
			if u, ok := cc["url"].(string); ok {
				if parsed, err := url.Parse(u); err == nil {
					path = parsed.Path
				}
			} else if svc, ok := cc["service"].(map[string]any); ok {
				if p, ok := svc["path"].(string); ok {
					path = p
				}
			}
			w["clientConfig"] = map[string]any{
				"url":      target.Scheme + "://" + target.Host + path,
				"caBundle": base64.StdEncoding.EncodeToString(ca),
			}
			if *domain != "" {
				w["name"] = strings.TrimSuffix(w["name"].(string), "secretgate.io") + *domain
			}
			hooks = append(hooks, w)
		}
		name := c.Name
		if *rename != "" {
			name = *rename
		} else if *domain != "" {
			name = *domain
		}
		items = append(items, map[string]any{
			"apiVersion": "admissionregistration.k8s.io/v1", "kind": c.Kind,
			"metadata": map[string]any{"name": name, "labels": map[string]any{"bench.secretgate.io/webhooks": "true"}},
			"webhooks": hooks,
		})
	}
	if len(items) == 0 {
		return fmt.Errorf("%s: no configurations", *spec)
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]any{"apiVersion": "v1", "kind": "List", "items": items})
}

type result struct {
	Object      string             `json:"object"`
	Kind        string             `json:"kind"`
	Count       int                `json:"count"`
	Concurrency int                `json:"concurrency"`
	Seconds     float64            `json:"seconds"`
	RPS         float64            `json:"rps"`
	LatencyMs   map[string]float64 `json:"latency_ms"`
	CPUSeconds  map[string]float64 `json:"cpu_seconds"`
	Webhooks    map[string]series  `json:"apiserver_webhooks"`
	Steps       map[string]series  `json:"apiserver_steps"`
	Policies    map[string]float64 `json:"apiserver_policy_checks"`
}

type series struct {
	Count float64 `json:"count"`
	Sum   float64 `json:"sum_seconds"`
}

func run(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig of the requester")
	objectFile := fs.String("object", "", "a Pod or Secret (YAML or JSON) to create, as a dry run")
	namespace := fs.String("namespace", "default", "namespace of the creates")
	count := fs.Int("count", 1000, "measured requests")
	concurrency := fs.Int("concurrency", 1, "requests in flight")
	warmup := fs.Int("warmup", 100, "requests before the measurement (not counted)")
	watch := fs.String("watch", "", "name=PID,...: processes whose CPU time is reported")
	clkTck := fs.Float64("clk-tck", 100, "clock ticks per second of /proc/PID/stat (getconf CLK_TCK)")
	expectWebhooks := fs.String("expect-webhooks", "", "webhook names the API server must have called exactly once per measured request (others: never); empty: none at all")
	expectPolicy := fs.String("expect-policy", "", "a ValidatingAdmissionPolicy that must be active: it must deny -probe before and after the measurement")
	probeFile := fs.String("probe", "", "with -expect-policy: an object of the same kind the policy denies")
	_ = fs.Parse(args)
	if *count < 1 || *concurrency < 1 || *warmup < 0 {
		return errors.New("-count and -concurrency must be at least 1, -warmup at least 0")
	}

	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return err
	}
	// no client-side rate limit: the API server's own flow control is what is measured
	cfg.QPS, cfg.Burst = 1e6, 1e6
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx := context.Background()
	kind, create, err := creator(ctx, client, *objectFile, *namespace)
	if err != nil {
		return err
	}
	// An admitted request leaves no trace in the policy metrics (the API server
	// counts only denials and errors), so the policy is proved active by a probe
	// it must deny, sent before and after the measurement.
	var probe func() error
	if *expectPolicy != "" {
		if *probeFile == "" {
			return errors.New("-expect-policy needs -probe: an object the policy must deny")
		}
		_, send, err := creator(ctx, client, *probeFile, *namespace)
		if err != nil {
			return err
		}
		probe = func() error { return deniedBy(send(), *expectPolicy, *probeFile) }
	}
	pids, err := parseWatch(*watch)
	if err != nil {
		return err
	}

	if _, err := drive(*warmup, *concurrency, create); err != nil {
		return fmt.Errorf("warm-up: %v", err)
	}
	if probe != nil {
		if err := probe(); err != nil {
			return err
		}
	}
	before, err := scrape(ctx, client)
	if err != nil {
		return err
	}
	cpu0 := cpuTimes(pids, *clkTck)
	start := time.Now()
	latencies, err := drive(*count, *concurrency, create)
	elapsed := time.Since(start).Seconds()
	cpu1 := cpuTimes(pids, *clkTck)
	if err != nil {
		return err
	}
	after, err := scrape(ctx, client)
	if err != nil {
		return err
	}
	if probe != nil {
		if err := probe(); err != nil {
			return err
		}
	}

	r := result{Object: *objectFile, Kind: kind, Count: *count, Concurrency: *concurrency, Seconds: elapsed,
		RPS: float64(*count) / elapsed, LatencyMs: summarise(latencies), CPUSeconds: map[string]float64{},
		Webhooks: diff(before.webhooks, after.webhooks), Steps: diff(before.steps, after.steps), Policies: map[string]float64{}}
	for name, v := range cpu1 {
		r.CPUSeconds[name] = v - cpu0[name]
	}
	for name, v := range after.policies {
		if d := v - before.policies[name]; d != 0 {
			r.Policies[name] = d
		}
	}
	if err := check(r, *expectWebhooks); err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(r)
}

// creator reads a Pod or Secret from file and returns its kind and a function
// that creates it as a dry run.
func creator(ctx context.Context, client *kubernetes.Clientset, file, namespace string) (string, func() error, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return "", nil, err
	}
	var meta metav1.TypeMeta
	if err := yaml.Unmarshal(raw, &meta); err != nil {
		return "", nil, fmt.Errorf("%s: %v", file, err)
	}
	opts := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	switch meta.Kind {
	case "Pod":
		var pod corev1.Pod
		if err := yaml.UnmarshalStrict(raw, &pod); err != nil {
			return "", nil, fmt.Errorf("%s: %v", file, err)
		}
		return meta.Kind, func() error {
			_, err := client.CoreV1().Pods(namespace).Create(ctx, pod.DeepCopy(), opts)
			return err
		}, nil
	case "Secret":
		var secret corev1.Secret
		if err := yaml.UnmarshalStrict(raw, &secret); err != nil {
			return "", nil, fmt.Errorf("%s: %v", file, err)
		}
		return meta.Kind, func() error {
			_, err := client.CoreV1().Secrets(namespace).Create(ctx, secret.DeepCopy(), opts)
			return err
		}, nil
	}
	return "", nil, fmt.Errorf("%s: kind %q: want Pod or Secret", file, meta.Kind)
}

// deniedBy checks that err is the API server's denial by the named policy.
func deniedBy(err error, policy, file string) error {
	if err == nil {
		return fmt.Errorf("probe %s was admitted: policy %s is not active", file, policy)
	}
	if !apierrors.IsInvalid(err) && !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "ValidatingAdmissionPolicy '"+policy+"'") {
		return fmt.Errorf("probe %s: expected a denial by policy %s, got: %v", file, policy, err)
	}
	return nil
}

// drive sends n creates from c goroutines; the first error stops it.
func drive(n, c int, create func() error) ([]time.Duration, error) {
	latencies := make([]time.Duration, n)
	next := make(chan int, n)
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				t0 := time.Now()
				if err := create(); err != nil {
					once.Do(func() { first = err })
					return
				}
				latencies[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	return latencies, first
}

func summarise(d []time.Duration) map[string]float64 {
	ms := make([]float64, len(d))
	sum := 0.0
	for i, v := range d {
		ms[i] = float64(v.Nanoseconds()) / 1e6
		sum += ms[i]
	}
	sort.Float64s(ms)
	q := func(p float64) float64 { // nearest rank
		i := int(math.Ceil(p*float64(len(ms)))) - 1
		return ms[max(0, min(i, len(ms)-1))]
	}
	return map[string]float64{"p50": q(0.50), "p90": q(0.90), "p99": q(0.99), "max": ms[len(ms)-1], "mean": sum / float64(len(ms))}
}

func check(r result, webhooks string) error {
	want := map[string]bool{}
	for _, n := range strings.Split(webhooks, ",") {
		if n = strings.TrimSpace(n); n != "" {
			want[n] = true
		}
	}
	var problems []string
	for n := range want {
		if got := r.Webhooks[n].Count; got != float64(r.Count) {
			problems = append(problems, fmt.Sprintf("webhook %s called %.0f times for %d requests", n, got, r.Count))
		}
	}
	for n, s := range r.Webhooks {
		if !want[n] && s.Count != 0 {
			problems = append(problems, fmt.Sprintf("webhook %s called %.0f times, expected never", n, s.Count))
		}
	}
	// measured requests are all admitted: the policy counter (denials and errors) stays still
	for n, v := range r.Policies {
		problems = append(problems, fmt.Sprintf("policy %s denied or failed %.0f measured requests", n, v))
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return errors.New("the measured requests did not take the expected admission path: " + strings.Join(problems, "; "))
	}
	return nil
}

type scraped struct {
	webhooks, steps map[string]series
	policies        map[string]float64
}

// scrape reads the admission histograms' _sum and _count from the API server's
// /metrics, summed over every label but the webhook's name (or the step's type).
func scrape(ctx context.Context, client *kubernetes.Clientset) (scraped, error) {
	body, err := client.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return scraped{}, fmt.Errorf("scraping the API server's /metrics: %v", err)
	}
	s := scraped{webhooks: map[string]series{}, steps: map[string]series{}, policies: map[string]float64{}}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, labels, value, ok := parseSample(line)
		if !ok {
			continue
		}
		switch name {
		case "apiserver_admission_webhook_admission_duration_seconds_count":
			add(s.webhooks, labels["name"], value, 0)
		case "apiserver_admission_webhook_admission_duration_seconds_sum":
			add(s.webhooks, labels["name"], 0, value)
		case "apiserver_admission_step_admission_duration_seconds_count":
			add(s.steps, labels["type"], value, 0)
		case "apiserver_admission_step_admission_duration_seconds_sum":
			add(s.steps, labels["type"], 0, value)
		case "apiserver_validating_admission_policy_check_total":
			s.policies[labels["policy"]] += value
		}
	}
	return s, sc.Err()
}

func add(m map[string]series, key string, count, sum float64) {
	v := m[key]
	v.Count += count
	v.Sum += sum
	m[key] = v
}

func diff(before, after map[string]series) map[string]series {
	out := map[string]series{}
	for k, a := range after {
		b := before[k]
		if a.Count != b.Count {
			out[k] = series{Count: a.Count - b.Count, Sum: a.Sum - b.Sum}
		}
	}
	return out
}

// parseSample splits `name{a="x",b="y"} value` (label values without escaped quotes
// suffice for these metrics).
func parseSample(line string) (string, map[string]string, float64, bool) {
	labels := map[string]string{}
	name, rest := line, ""
	if i := strings.IndexByte(line, '{'); i >= 0 {
		j := strings.LastIndexByte(line, '}')
		if j < i {
			return "", nil, 0, false
		}
		name, rest = line[:i], line[j+1:]
		for _, pair := range strings.Split(line[i+1:j], ",") {
			k, v, ok := strings.Cut(pair, "=")
			if ok {
				labels[k] = strings.Trim(v, `"`)
			}
		}
	} else if i := strings.IndexByte(line, ' '); i >= 0 {
		name, rest = line[:i], line[i:]
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return "", nil, 0, false
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	return name, labels, v, err == nil
}

func parseWatch(s string) (map[string]int, error) {
	pids := map[string]int{}
	for _, pair := range strings.Split(s, ",") {
		if pair == "" {
			continue
		}
		name, pid, ok := strings.Cut(pair, "=")
		n, err := strconv.Atoi(pid)
		if !ok || err != nil {
			return nil, fmt.Errorf("-watch %q: want name=PID,...", s)
		}
		pids[name] = n
	}
	return pids, nil
}

// cpuTimes: user+system seconds of each process (all its threads, living or
// exited), from fields 14 and 15 of /proc/PID/stat.
func cpuTimes(pids map[string]int, clkTck float64) map[string]float64 {
	out := map[string]float64{}
	for name, pid := range pids {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// the command may hold spaces: fields count from after its closing parenthesis
		s := string(raw)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) < 13 {
			continue
		}
		utime, _ := strconv.ParseFloat(fields[11], 64)
		stime, _ := strconv.ParseFloat(fields[12], 64)
		out[name] = (utime + stime) / clkTck
	}
	return out
}
