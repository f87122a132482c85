// modemd sample (Go, standard library only): send an SMS, send a CSV file as a campaign,
// verify an IPN signature.
//
//	MODEMD_APIKEY=mdk_... go run sample.go send +393331234567 "Hello"
//	MODEMD_APIKEY=mdk_... go run sample.go bulk clients.csv "Hello {name}"   (columns to,name)
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
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
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

type answer struct {
	Response   string `json:"response"`
	StatusCode string `json:"status_code"`
	Campaign   struct {
		ID string `json:"campaign_id"`
	} `json:"campaign"`
}

// call posts body to the API with the key, prints the answer and decodes it (errors are JSON too).
func call(path, contentType string, body io.Reader) (answer, error) {
	var got answer
	base := strings.TrimRight(env("MODEMD_URL", "http://127.0.0.1:8080"), "/")
	request, err := http.NewRequest("POST", base+path, body)
	if err != nil {
		return got, err
	}
	request.Header.Set("Content-Type", contentType)
	request.Header.Set("Authorization", "Bearer "+os.Getenv("MODEMD_APIKEY"))
	// a large file is validated before the answer comes
	response, err := (&http.Client{Timeout: 300 * time.Second}).Do(request)
	if err != nil {
		return got, err
	}
	defer response.Body.Close()
	raw, err := io.ReadAll(response.Body)
	if err != nil {
		return got, err
	}
	fmt.Println(string(raw))
	return got, json.Unmarshal(raw, &got)
}

// send posts /api/v1/send and reports whether it was accepted (status_code 1 or 2).
func send(to, msg string) (bool, error) {
	payload, _ := json.Marshal(map[string]string{"pin": env("MODEMD_PIN", "YOUR_PIN"), "to": to, "msg": msg})
	got, err := call("/api/v1/send", "application/json", bytes.NewReader(payload))
	return err == nil && (got.StatusCode == "1" || got.StatusCode == "2"), err
}

// bulk uploads a CSV file as a campaign in a multipart form (the answer is its validation
// report), then starts it.
func bulk(path, template string) (bool, error) {
	file, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer file.Close()
	var form bytes.Buffer
	writer := multipart.NewWriter(&form)
	writer.WriteField("pin", env("MODEMD_PIN", "YOUR_PIN"))
	writer.WriteField("template", template)
	part, err := writer.CreateFormFile("file", filepath.Base(path))
	if err == nil {
		_, err = io.Copy(part, file)
	}
	if err != nil {
		return false, err
	}
	writer.Close()
	draft, err := call("/api/v1/campaigns", writer.FormDataContentType(), &form)
	if err != nil || draft.Response != "200" {
		return false, err
	}
	started, err := call("/api/v1/campaigns/"+url.PathEscape(draft.Campaign.ID)+"/start", "application/json", nil)
	return err == nil && started.Response == "200", err
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
	case "bulk":
		ok, err := bulk(arg(2, ""), arg(3, ""))
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
		fmt.Fprintln(os.Stderr, "usage: sample [send [TO [MSG]] | bulk FILE TEMPLATE | verify]")
		os.Exit(2)
	}
}
