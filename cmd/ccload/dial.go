package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// target is the server under load. ccload only ever talks to the loopback
// interface: that is the rule where it is used, and -addr is refused
// otherwise.
type target struct {
	hostport string // as given: used in URLs, so Host and Origin match
	dialAddr string // ip:port actually dialled
	v4       bool   // an IPv4 target, reachable from any 127.0.0.0/8 address
	origin   string // the server's own origin, which it always allows
}

// parseTarget accepts host:port where host is an address in 127.0.0.0/8,
// ::1 or the name localhost (taken as 127.0.0.1; no other name is looked
// up).
func parseTarget(addr string) (target, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return target{}, fmt.Errorf("-addr %q: want host:port such as 127.0.0.1:8080: %v", addr, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return target{}, fmt.Errorf("-addr %q: the port is not a number from 1 to 65535", addr)
	}
	var ip net.IP
	if strings.EqualFold(host, "localhost") {
		ip = net.IPv4(127, 0, 0, 1)
	} else if ip = net.ParseIP(host); ip == nil {
		return target{}, fmt.Errorf("-addr %q: want a loopback address (127.0.0.0/8, ::1) or localhost; names are not looked up", addr)
	}
	if !ip.IsLoopback() {
		return target{}, fmt.Errorf("-addr %q: %s is not a loopback address: ccload only loads 127.0.0.0/8, ::1 or localhost", addr, ip)
	}
	return target{hostport: addr, dialAddr: net.JoinHostPort(ip.String(), port), v4: ip.To4() != nil, origin: "http://" + addr}, nil
}

// sourceIP is the k-th loopback address of a block: 127.block.x.y with
// y in 1..254, so that clients can be spread over many source addresses
// (the server limits commands and logins per address, as it should for
// real visitors who each have their own). The whole of 127.0.0.0/8 is
// local on Linux, so binding one needs no setup.
func sourceIP(block byte, k int) net.IP {
	return net.IPv4(127, block, byte(k/254), byte(k%254+1))
}

// maxSourcesPerBlock is how many addresses sourceIP gives per block.
const maxSourcesPerBlock = 254 * 256

// clients hands out one HTTP client per source address. Each has its own
// keep-alive pool; WebSocket upgrades take their connection out of it.
type clients struct {
	t  target
	mu sync.Mutex
	by map[string]*http.Client
}

func newClients(t target) *clients { return &clients{t: t, by: map[string]*http.Client{}} }

// get returns the client dialling from src (nil: the kernel's choice).
func (c *clients) get(src net.IP) *http.Client {
	key := src.String()
	c.mu.Lock()
	defer c.mu.Unlock()
	if hc := c.by[key]; hc != nil {
		return hc
	}
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: -1}
	if src != nil {
		d.LocalAddr = &net.TCPAddr{IP: src}
	}
	dialAddr := c.t.dialAddr
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, dialAddr)
		},
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	hc := &http.Client{Transport: tr}
	c.by[key] = hc
	return hc
}

// closeIdle closes every client's idle keep-alive connections.
func (c *clients) closeIdle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, hc := range c.by {
		hc.CloseIdleConnections()
	}
}
