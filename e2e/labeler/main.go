// Command labeler is a second mutating webhook for the e2e suite: it adds the
// label e2e.secretgate.io/labeled=true to every Pod that lacks it. Registered
// after secretgate's, its change makes the API server reinvoke secretgate's
// webhook (reinvocationPolicy IfNeeded), whose second pass must change nothing.
// Test helper only; standard library only.
package main

import (
	"encoding/base64"
	"encoding/json"
	"flag"
	"log"
	"net/http"
)

const label = "e2e.secretgate.io/labeled"

type review struct {
	APIVersion string    `json:"apiVersion"`
	Kind       string    `json:"kind"`
	Request    *request  `json:"request,omitempty"`
	Response   *response `json:"response,omitempty"`
}

type request struct {
	UID    string `json:"uid"`
	Object struct {
		Metadata struct {
			Labels map[string]string `json:"labels"`
		} `json:"metadata"`
	} `json:"object"`
}

type response struct {
	UID       string `json:"uid"`
	Allowed   bool   `json:"allowed"`
	PatchType string `json:"patchType,omitempty"`
	Patch     string `json:"patch,omitempty"`
}

func mutate(w http.ResponseWriter, r *http.Request) {
	var in review
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 8<<20)).Decode(&in); err != nil || in.Request == nil {
		http.Error(w, "not an AdmissionReview with a request", http.StatusBadRequest)
		return
	}
	out := &response{UID: in.Request.UID, Allowed: true}
	labels := in.Request.Object.Metadata.Labels
	if _, ok := labels[label]; !ok {
		var op []map[string]any
		if labels == nil {
			op = []map[string]any{{"op": "add", "path": "/metadata/labels", "value": map[string]string{label: "true"}}}
		} else {
			op = []map[string]any{{"op": "add", "path": "/metadata/labels/e2e.secretgate.io~1labeled", "value": "true"}}
		}
		patch, _ := json.Marshal(op)
		out.PatchType, out.Patch = "JSONPatch", base64.StdEncoding.EncodeToString(patch)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(review{APIVersion: in.APIVersion, Kind: "AdmissionReview", Response: out})
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to serve HTTPS on")
	cert := flag.String("tls-cert-file", "", "PEM serving certificate")
	key := flag.String("tls-key-file", "", "PEM private key")
	flag.Parse()
	http.HandleFunc("/mutate", mutate)
	http.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	log.Printf("labeler: serving on https://%s/mutate", *listen)
	log.Fatal(http.ListenAndServeTLS(*listen, *cert, *key, nil))
}
