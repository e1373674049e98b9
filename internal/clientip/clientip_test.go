package clientip

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestResolveTrustsForwardingHeadersOnlyFromTrustedProxies(t *testing.T) {
	r, err := New([]string{"10.0.0.0/8", "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, remote, xff, proto string
		want                     string
		https                    bool
	}{
		{"a direct client is its peer address", "203.0.113.5:4000", "1.2.3.4", "https", "203.0.113.5", false},
		{"a trusted proxy forwards the client", "10.1.2.3:4000", "198.51.100.7", "https", "198.51.100.7", true},
		{"the right-most untrusted hop is the client", "10.1.2.3:4000", "6.6.6.6, 198.51.100.7, 10.9.9.9", "http", "198.51.100.7", false},
		{"a single trusted address", "192.0.2.1:1", "198.51.100.8", "", "198.51.100.8", false},
		{"garbage stops the walk", "10.1.2.3:4000", "198.51.100.7, junk", "", "10.1.2.3", false},
		{"all trusted: the left-most", "10.1.2.3:4000", "10.0.0.9", "", "10.0.0.9", false},
		{"the proxy's appended scheme counts, not the client's", "10.1.2.3:4000", "198.51.100.7", "https, http", "198.51.100.7", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/", nil)
			req.RemoteAddr = tc.remote
			req.Header.Set("X-Forwarded-For", tc.xff)
			if tc.proto != "" {
				req.Header.Set("X-Forwarded-Proto", tc.proto)
			}
			var gotIP string
			var gotHTTPS bool
			r.Middleware(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				gotIP, gotHTTPS = req.RemoteAddr, HTTPS(req)
			})).ServeHTTP(httptest.NewRecorder(), req)
			a, https := r.Resolve(req)
			if a.String() != tc.want || https != tc.https {
				t.Fatalf("Resolve = %s https=%v, want %s https=%v", a, https, tc.want, tc.https)
			}
			if host := gotIP[:len(gotIP)-len(":0")]; gotIP != tc.remote && host != tc.want {
				t.Fatalf("the middleware set RemoteAddr %q, want %s", gotIP, tc.want)
			}
			if gotHTTPS != tc.https {
				t.Fatalf("HTTPS = %v", gotHTTPS)
			}
		})
	}
	if _, err := New([]string{"not-a-cidr"}); err == nil {
		t.Fatal("a bad CIDR accepted")
	}
}
