package origin

import (
	"net/http/httptest"
	"testing"
)

func TestOriginsAreComparedWithTheirScheme(t *testing.T) {
	staff, err := New("", []string{"https://admin.example.com:443/"}, true)
	if err != nil {
		t.Fatal(err)
	}
	public, err := New("https://contact.example.com", nil, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		p      Policy
		host   string
		origin string
		want   bool
	}{
		{"the request's own origin", staff, "contact.example.com", "http://contact.example.com", true},
		{"its own host over another scheme", staff, "contact.example.com", "https://contact.example.com", false},
		{"a listed origin, default port left out", staff, "contact.example.com", "https://admin.example.com", true},
		{"a listed host over http", staff, "contact.example.com", "http://admin.example.com", false},
		{"no Origin where one is required", staff, "contact.example.com", "", false},
		{"no Origin where none is required", public, "contact.example.com", "", true},
		{"the public URL's origin", public, "10.0.0.5:8080", "https://contact.example.com", true},
		{"http when the public URL is https", public, "contact.example.com", "http://contact.example.com", false},
		{"a foreign site", public, "contact.example.com", "https://evil.example", false},
		{"a null origin", public, "contact.example.com", "null", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "http://"+tc.host+"/api/login", nil)
			if tc.origin != "" {
				r.Header.Set("Origin", tc.origin)
			}
			if got := tc.p.Allowed(r); got != tc.want {
				t.Fatalf("Allowed = %v, want %v", got, tc.want)
			}
		})
	}
	if _, err := New("", []string{"shop.example.com"}, false); err == nil {
		t.Fatal("an origin without scheme accepted")
	}
}
