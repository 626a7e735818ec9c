// kstatus reads Kubernetes objects as JSON (one object, a list, or a stream of objects) on stdin
// and prints, one line per object, "<kind>/<name> <status> <message>" as computed by kstatus
// (sigs.k8s.io/cli-utils/pkg/kstatus/status), the library Flux and Argo CD's gitops-engine use to
// judge a resource's health. Tests run it as an independent check of ringtap's status.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

func main() {
	dec := json.NewDecoder(bufio.NewReader(os.Stdin))
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err == io.EOF {
			return
		} else if err != nil {
			fmt.Fprintln(os.Stderr, "kstatus: bad input:", err)
			os.Exit(2)
		}
		// As the API machinery reads objects: whole numbers become int64, as kstatus expects.
		var obj map[string]interface{}
		if err := utiljson.Unmarshal(raw, &obj); err != nil {
			fmt.Fprintln(os.Stderr, "kstatus: bad input:", err)
			os.Exit(2)
		}
		items := []interface{}{obj}
		if list, ok := obj["items"].([]interface{}); ok {
			items = list
		}
		for _, it := range items {
			m, ok := it.(map[string]interface{})
			if !ok {
				fmt.Fprintln(os.Stderr, "kstatus: an item is not an object")
				os.Exit(2)
			}
			u := &unstructured.Unstructured{Object: m}
			res, err := status.Compute(u)
			if err != nil {
				fmt.Fprintf(os.Stderr, "kstatus: %s/%s: %v\n", u.GetKind(), u.GetName(), err)
				os.Exit(1)
			}
			fmt.Printf("%s/%s %s %s\n", u.GetKind(), u.GetName(), res.Status, res.Message)
		}
	}
}
