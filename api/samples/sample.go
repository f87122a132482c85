// modemd sample (Go, standard library only): send an SMS, verify an IPN signature.
//
//	MODEMD_APIKEY=mdk_... go run sample.go send +393331234567 "Hello"
//	go run sample.go verify < ipn-body.json   (headers in WEBHOOK_ID, WEBHOOK_TIMESTAMP,
//	                                           WEBHOOK_SIGNATURE; secret in MODEMD_IPN_SECRET)
//
// Settings: MODEMD_URL, MODEMD_APIKEY, MODEMD_PIN, MODEMD_TO, MODEMD_MSG (or the arguments).
package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

const toleranceS = 300 // Standard Webhooks: refuse signatures older or newer than 5 minutes

func env(name, fallback string) string {
	if value := os.Getenv(name); value != "" {
		return value
	}
	return fallback
}

func arg(i int, fallback string) string {
	if len(os.Args) > i {
		return os.Args[i]
	}
	return fallback
}

// send posts /api/v1/send, prints the answer and reports whether it was accepted (code 1 or 2).
func send(to, msg string) (bool, error) {
	payload, _ := json.Marshal(map[string]string{"pin": env("MODEMD_PIN", "YOUR_PIN"), "to": to, "msg": msg})
	url := strings.TrimRight(env("MODEMD_URL", "http://127.0.0.1:8080"), "/") + "/api/v1/send"
	request, err := http.NewRequest("POST", url, bytes.NewReader(payload))
	if err != nil {
		return false, err
	}
	request.Header.Set("Content-Type", "application/json")
	request.Header.Set("Authorization", "Bearer "+os.Getenv("MODEMD_APIKEY"))
	response, err := (&http.Client{Timeout: 30 * time.Second}).Do(request)
	if err != nil {
		return false, err
	}
	defer response.Body.Close()
	raw, err := io.ReadAll(response.Body) // errors carry a JSON body too
	if err != nil {
		return false, err
	}
	fmt.Println(string(raw))
	var answer struct {
		StatusCode string `json:"status_code"`
	}
	if err := json.Unmarshal(raw, &answer); err != nil {
		return false, err
	}
	return answer.StatusCode == "1" || answer.StatusCode == "2", nil
}

// verifyIPN reports whether body is an IPN signed with secret (whsec_...) less than 5 min ago.
func verifyIPN(secret, id, timestamp, signature string, body []byte) bool {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil || time.Now().Unix()-ts > toleranceS || ts-time.Now().Unix() > toleranceS {
		return false
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + timestamp + "."))
	mac.Write(body)
	expected := []byte(base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	for _, entry := range strings.Fields(signature) {
		version, value, found := strings.Cut(entry, ",")
		if found && version == "v1" && hmac.Equal([]byte(value), expected) {
			return true
		}
	}
	return false
}

func main() {
	switch arg(1, "send") {
	case "send":
		ok, err := send(arg(2, env("MODEMD_TO", "")), arg(3, env("MODEMD_MSG", "Hello from modemd")))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		if !ok {
			os.Exit(1)
		}
	case "verify":
		body, err := io.ReadAll(os.Stdin)
		ok := err == nil && verifyIPN(os.Getenv("MODEMD_IPN_SECRET"), os.Getenv("WEBHOOK_ID"),
			os.Getenv("WEBHOOK_TIMESTAMP"), os.Getenv("WEBHOOK_SIGNATURE"), body)
		if !ok {
			fmt.Println("invalid")
			os.Exit(1)
		}
		fmt.Println("valid")
	default:
		fmt.Fprintln(os.Stderr, "usage: sample [send [TO [MSG]] | verify]")
		os.Exit(2)
	}
}
