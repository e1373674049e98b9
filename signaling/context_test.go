package signaling

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

func sign(secret string, fields map[string]any) string {
	payload, _ := json.Marshal(fields)
	body := base64.RawURLEncoding.EncodeToString(payload)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(body))
	return body + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func TestSignedContextIsCheckedAgainstEverySitesSecretAndItsExpiry(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	sites := []SiteSecret{{Origin: "https://a.example", Secret: "secret-of-a"}, {Origin: "https://b.example", Secret: "secret-of-b"}}
	exp := now.Add(time.Minute).Unix()
	for _, tc := range []struct {
		name    string
		token   string
		want    map[string]string
		site    string
		wantErr error
	}{
		{"signed by the second site", sign("secret-of-b", map[string]any{"account": "A-1", "exp": exp}), map[string]string{"account": "A-1"}, "https://b.example", nil},
		{"an unknown secret", sign("secret-of-c", map[string]any{"account": "A-1", "exp": exp}), nil, "", errContextSig},
		{"expired", sign("secret-of-a", map[string]any{"account": "A-1", "exp": now.Add(-time.Second).Unix()}), nil, "", errContextExpired},
		{"without exp", sign("secret-of-a", map[string]any{"account": "A-1"}), nil, "", errContextExpired},
		{"a value that is not a string", sign("secret-of-a", map[string]any{"n": 5, "exp": exp}), nil, "", errContextFormat},
		{"no signature", "eyJhIjoiYiJ9", nil, "", errContextFormat},
		{"a payload changed after signing", func() string {
			tok := sign("secret-of-a", map[string]any{"account": "A-1", "exp": exp})
			other := sign("secret-of-a", map[string]any{"account": "A-2", "exp": exp})
			return other[:len(other)-43] + tok[len(tok)-43:]
		}(), nil, "", errContextSig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, site, err := verifyContext(tc.token, sites, now)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == nil && (site != tc.site || len(got) != len(tc.want) || got["account"] != tc.want["account"]) {
				t.Fatalf("got %v from %q, want %v from %q", got, site, tc.want, tc.site)
			}
		})
	}
}
