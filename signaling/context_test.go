package signaling

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
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

func TestSignedContextIsCheckedAgainstTheEmbeddingSitesSecretAndItsExpiry(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	sites := []SiteSecret{{Origin: "https://a.example", Secret: "secret-of-a"}, {Origin: "https://b.example", Secret: "secret-of-b"}}
	exp := now.Add(time.Minute).Unix()
	for _, tc := range []struct {
		name    string
		token   string
		page    string // the embedding page's origin, as the widget reports it
		want    map[string]string
		wantErr error
	}{
		{"signed by the second site on its page", sign("secret-of-b", map[string]any{"account": "A-1", "exp": exp}), "https://b.example", map[string]string{"account": "A-1"}, nil},
		{"signed for site A, shown on site B", sign("secret-of-a", map[string]any{"account": "A-1", "exp": exp}), "https://b.example", nil, errContextSig},
		{"signed for site A, on a page of no site", sign("secret-of-a", map[string]any{"account": "A-1", "exp": exp}), "https://evil.example", nil, errContextSite},
		{"signed for site A, no page reported", sign("secret-of-a", map[string]any{"account": "A-1", "exp": exp}), "", nil, errContextSite},
		{"signed for site A, on http://a.example", sign("secret-of-a", map[string]any{"account": "A-1", "exp": exp}), "http://a.example", nil, errContextSite},
		{"an unknown secret", sign("secret-of-c", map[string]any{"account": "A-1", "exp": exp}), "https://a.example", nil, errContextSig},
		{"expired", sign("secret-of-a", map[string]any{"account": "A-1", "exp": now.Add(-time.Second).Unix()}), "https://a.example", nil, errContextExpired},
		{"without exp", sign("secret-of-a", map[string]any{"account": "A-1"}), "https://a.example", nil, errContextExpired},
		{"exp 24 hours ahead", sign("secret-of-a", map[string]any{"account": "A-1", "exp": now.Add(MaxContextAhead).Unix()}), "https://a.example", map[string]string{"account": "A-1"}, nil},
		{"exp a year ahead", sign("secret-of-a", map[string]any{"account": "A-1", "exp": now.Add(365 * 24 * time.Hour).Unix()}), "https://a.example", nil, errContextFuture},
		{"exp past 24 hours by a second", sign("secret-of-a", map[string]any{"account": "A-1", "exp": now.Add(MaxContextAhead + time.Second).Unix()}), "https://a.example", nil, errContextFuture},
		{"a value that is not a string", sign("secret-of-a", map[string]any{"n": 5, "exp": exp}), "https://a.example", nil, errContextFormat},
		{"no signature", "eyJhIjoiYiJ9", "https://a.example", nil, errContextFormat},
		{"a payload changed after signing", func() string {
			tok := sign("secret-of-a", map[string]any{"account": "A-1", "exp": exp})
			other := sign("secret-of-a", map[string]any{"account": "A-2", "exp": exp})
			return other[:len(other)-43] + tok[len(tok)-43:]
		}(), "https://a.example", nil, errContextSig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := verifyContext(tc.token, sites, tc.page, now)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == nil && (len(got) != len(tc.want) || got["account"] != tc.want["account"]) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// The session endpoint takes the site from the page address the widget
// reports: a token signed for shop A on a page of shop B is left out, and
// one for the page's own site is verified.
func TestASignedContextIsVerifiedOnlyOnItsOwnSitesPages(t *testing.T) {
	e := newEdge(t, Config{Security: Security{ContextSecrets: []SiteSecret{{Origin: "https://a.example", Secret: "secret-of-a"}, {Origin: "https://b.example", Secret: "secret-of-b"}}}})
	tokA := sign("secret-of-a", map[string]any{"account": "A-1", "exp": time.Now().Add(time.Hour).Unix()})
	for _, tc := range []struct {
		name, page, want string
	}{
		{"on site A", "https://a.example/cart", "account"},
		{"on site B", "https://b.example/cart", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := e.s.visitorContext(map[string]string{"pageUrl": tc.page, "account": "typed"}, tokA)
			if got[VerifiedAttr] != tc.want {
				t.Fatalf("attributes %v: want verified %q", got, tc.want)
			}
			if tc.want == "" && got["account"] != "typed" {
				t.Fatalf("attributes %v: the token of another site replaced the page's account", got)
			}
		})
	}
}

// Signed and page context together past the limit of 20 fields: the
// visitor gets through with the signed fields and as many of the page's as
// fit (its address first), never a 400.
func TestTooManySignedAndPageFieldsTogetherDropPageFieldsNotTheVisitor(t *testing.T) {
	e := newEdge(t, Config{Security: Security{ContextSecrets: []SiteSecret{{Origin: "https://a.example", Secret: "secret-of-a"}}}})
	signedFields := map[string]any{"exp": time.Now().Add(time.Hour).Unix()}
	for i := range 10 {
		signedFields[fmt.Sprintf("s%02d", i)] = "signed"
	}
	page := map[string]any{"pageUrl": "https://a.example/cart", "pageTitle": "Cart", "s00": "typed"}
	for i := range 17 {
		page[fmt.Sprintf("p%02d", i)] = "page"
	}
	code, body := postSession(t, e, map[string]any{"queue": "sales", "name": "Ann", "attributes": page, "signedContext": sign("secret-of-a", signedFields)})
	if code != http.StatusCreated {
		t.Fatalf("session: %d %s, want 201", code, body)
	}
	attrs := e.f.started()
	if len(attrs) != maxAttrs || attrs["s00"] != "signed" || attrs["pageUrl"] == "" || attrs["pageTitle"] != "Cart" || len(strings.Split(attrs[VerifiedAttr], ",")) != 10 {
		t.Fatalf("attributes (%d) %v: want %d with the 10 signed, the page address and title", len(attrs), attrs, maxAttrs)
	}
	t.Run("a signed context with more fields than fit is left out", func(t *testing.T) {
		for i := range 25 {
			signedFields[fmt.Sprintf("s%02d", i)] = "signed"
		}
		code, body := postSession(t, e, map[string]any{"queue": "sales", "name": "Bo", "attributes": map[string]string{"pageUrl": "https://a.example/", "account": "typed"}, "signedContext": sign("secret-of-a", signedFields)})
		if code != http.StatusCreated {
			t.Fatalf("session: %d %s, want 201", code, body)
		}
		if attrs := e.f.started(); attrs[VerifiedAttr] != "" || attrs["account"] != "typed" || len(attrs) != 2 {
			t.Fatalf("attributes %v: want the page's only", attrs)
		}
	})
}

// postSession posts a widget session request to the edge.
func postSession(t *testing.T, e *edge, req map[string]any) (int, string) {
	t.Helper()
	b, _ := json.Marshal(req)
	r, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.url+"/api/widget/session", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Origin", e.url)
	r.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}
