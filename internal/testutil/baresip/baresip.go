// Package baresip runs the baresip softphone (Debian baresip-core, v1.0)
// as a child process for tests that want a real SIP phone on the other
// end: a phone that dials, answers, registers with digest, plays a tone
// file as its microphone and records what it hears to a WAV file.
//
// Each Phone gets a temporary config directory (baresip -f dir) with
//
//   - G.711 only (module g711.so: PCMU and PCMA, no other codec);
//   - the aufile module as its microphone (audio_source aufile,tone.wav, an
//     8 kHz tone the harness writes; at the end of the file baresip hangs
//     up, so the file lasts longer than any test);
//   - the sndfile filter recording both directions (snd_path): dump-*-dec.wav
//     is what the phone hears, dump-*-enc.wav what it sends;
//   - aubridge as its loudspeaker (no sound card needed);
//   - ctrl_tcp on 127.0.0.1 for commands (dial, hangup, accept, ...) and
//     events (CALL_INCOMING, CALL_ESTABLISHED, CALL_CLOSED, REGISTER_OK,
//     REGISTER_FAIL, ...), JSON in netstrings;
//   - SIP on 127.0.0.1 or Options.IP (net_interface, sip_listen) at a
//     port free a moment before; baresip also binds the next port for TLS,
//     so both are checked. A start that loses a port race is retried.
//
// An account that registers is added (uanew) once ctrl_tcp is connected,
// so that its REGISTER_OK or REGISTER_FAIL is not missed. baresip's
// stdout is a pipe, so its lines (the SIP trace with Options.Trace) come
// in blocks: Stop the phone before reading a log that must be complete.
// In baresip 1.0, CALL_CLOSED with "Connection reset by peer" is a BYE
// received; a password with spaces must be quoted in the account line.
//
// Without baresip (or its modules) the test is skipped with the reason,
// or fails when REQUIRE_SIPP=1 or REQUIRE_BARESIP=1. The process is killed
// and reaped when the test ends; its log is printed if the test failed.
package baresip

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/contactd/contactd/internal/testutil"
)

// Wait bounds how long the harness waits for baresip to start, answer a
// command or send an awaited event. It bounds a broken test, not how fast
// baresip must be (a loaded 2-core machine running -race is slow).
const Wait = 30 * time.Second

// Rate is the sample rate of the tone files and recordings (G.711).
const Rate = 8000

// modules are the baresip modules the harness loads.
var modules = []string{"g711", "aufile", "aubridge", "sndfile", "account", "menu", "ctrl_tcp"}

// Options configure a Phone.
type Options struct {
	// User is the account's user part; default "phone".
	User string
	// Display is the account's display name (sent in From).
	Display string
	// Registrar, if set (host:port), makes the account register there
	// with AuthUser/AuthPass (digest); otherwise the account does not
	// register (regint=0) and its AOR is sip:user@IP.
	Registrar string
	AuthUser  string
	AuthPass  string
	// Transport of the account: udp (default) or tcp.
	Transport string
	// AutoAnswer answers incoming calls at once (answermode=auto).
	AutoAnswer bool
	// ToneHz is the microphone's tone; 0: silence.
	ToneHz float64
	// ToneSeconds is the tone file's length; default 120 s (baresip hangs
	// up at the end of its microphone's file).
	ToneSeconds int
	// Trace puts baresip's SIP trace (-s) in its log.
	Trace bool
	// IP is the loopback address the phone's SIP and RTP use; default
	// 127.0.0.1. Phones on 127.0.0.2, 127.0.0.3, ... are distinct sources
	// (Linux routes all of 127.0.0.0/8 to lo).
	IP string
}

// Event is a baresip event from ctrl_tcp.
type Event struct {
	Type      string // CALL_INCOMING, CALL_RINGING, CALL_ESTABLISHED, CALL_CLOSED, REGISTER_OK, REGISTER_FAIL, ...
	Class     string // call, register, ...
	AOR       string // the account
	Direction string // incoming, outgoing
	PeerURI   string
	PeerName  string
	ID        string // the call's id (the SIP Call-ID)
	Param     string // e.g. the reason of CALL_CLOSED, the answer of REGISTER_FAIL
	At        time.Time
}

func (e Event) String() string {
	return fmt.Sprintf("%s %s peer=%q id=%q param=%q", e.Type, e.Direction, e.PeerURI, e.ID, e.Param)
}

// Phone is a running baresip.
type Phone struct {
	t    testing.TB
	opt  Options
	dir  string
	port int // SIP, UDP and TCP
	ctl  int
	cmd  *exec.Cmd
	exit chan struct{}
	log  *logBuffer

	conn     net.Conn
	wmu      sync.Mutex
	seq      int
	stop     func()
	stopOnce sync.Once

	mu      sync.Mutex
	events  []Event
	replies map[string]chan reply
	changed chan struct{} // closed and replaced on every new event
}

type reply struct {
	OK   bool
	Data string
}

// paths are the baresip binary ($BARESIP, else baresip on PATH) and its
// modules' directory ($BARESIP_MODULES, else the Debian path).
func paths() (bin, mods string, err error) {
	bin = os.Getenv("BARESIP")
	if bin == "" {
		bin = "baresip"
	}
	if bin, err = exec.LookPath(bin); err != nil {
		return "", "", fmt.Errorf("baresip is not installed (Debian: apt-get install baresip-core): %w", err)
	}
	mods = os.Getenv("BARESIP_MODULES")
	if mods == "" {
		for _, d := range []string{"/usr/lib/baresip/modules", "/usr/local/lib/baresip/modules", "/usr/lib/x86_64-linux-gnu/baresip/modules"} {
			if _, err := os.Stat(filepath.Join(d, "g711.so")); err == nil {
				mods = d
				break
			}
		}
	}
	if mods == "" {
		return "", "", errors.New("baresip's modules are not found (set BARESIP_MODULES)")
	}
	for _, m := range modules {
		if _, err := os.Stat(filepath.Join(mods, m+".so")); err != nil {
			return "", "", fmt.Errorf("baresip module %s.so is missing in %s", m, mods)
		}
	}
	return bin, mods, nil
}

// Available skips the test (or fails it with REQUIRE_SIPP=1 or
// REQUIRE_BARESIP=1) when baresip or its modules are missing.
func Available(t testing.TB) {
	t.Helper()
	if _, _, err := paths(); err != nil {
		if testutil.RequireEnv("REQUIRE_SIPP") || testutil.RequireEnv("REQUIRE_BARESIP") {
			t.Fatalf("%v, and REQUIRE_SIPP=1 or REQUIRE_BARESIP=1 makes this a failure", err)
		}
		t.Skipf("%v: skipping the softphone test (set REQUIRE_SIPP=1 to make this a failure)", err)
	}
}

// Start runs a baresip with opt; it is stopped when the test ends.
func Start(t testing.TB, opt Options) *Phone {
	t.Helper()
	Available(t)
	bin, mods, _ := paths()
	if opt.User == "" {
		opt.User = "phone"
	}
	if opt.Transport == "" {
		opt.Transport = "udp"
	}
	if opt.ToneSeconds == 0 {
		opt.ToneSeconds = 120
	}
	if opt.IP == "" {
		opt.IP = "127.0.0.1"
	}
	dir := t.TempDir()
	tone := filepath.Join(dir, "tone.wav")
	if err := WriteTone(tone, opt.ToneHz, time.Duration(opt.ToneSeconds)*time.Second); err != nil {
		t.Fatal(err)
	}
	var lastErr error
	for range 4 {
		p, err := start(t, bin, mods, dir, tone, opt)
		if err == nil {
			return p
		}
		lastErr = err
		if !errors.Is(err, errPortTaken) {
			break
		}
	}
	t.Fatalf("baresip did not start: %v", lastErr)
	return nil
}

var errPortTaken = errors.New("a port was taken")

// pickPort chooses the SIP port (tests replace it).
var pickPort = freePortPair

func start(t testing.TB, bin, mods, dir, tone string, opt Options) (*Phone, error) {
	port, err := pickPort(opt.IP)
	if err != nil {
		return nil, err
	}
	ctl, err := freeTCPPort()
	if err != nil {
		return nil, err
	}
	rec := filepath.Join(dir, "rec")
	if err := os.RemoveAll(rec); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(rec, 0o755); err != nil {
		return nil, err
	}
	conf := fmt.Sprintf(`# written by internal/testutil/baresip
poll_method		epoll
net_interface		%s
sip_listen		%s
call_local_timeout	120
call_max_calls		4
audio_player		aubridge,speaker
audio_source		aufile,%s
audio_alert		aubridge,alert
audio_level		no
ausrc_format		s16
auplay_format		s16
auenc_format		s16
audec_format		s16
audio_buffer		20-160
rtp_tos			0
rtcp_mux		no
jitter_buffer_delay	1-4
rtp_stats		no
module_path		%s
module			g711.so
module			aufile.so
module			aubridge.so
module			sndfile.so
module_tmp		account.so
module_app		menu.so
module_app		ctrl_tcp.so
ctrl_tcp_listen		127.0.0.1:%d
snd_path		%s
`, opt.IP, net.JoinHostPort(opt.IP, strconv.Itoa(port)), tone, mods, ctl, rec)
	if err := os.WriteFile(filepath.Join(dir, "config"), []byte(conf), 0o644); err != nil {
		return nil, err
	}
	// A registering account is added once ctrl_tcp is connected (uanew),
	// so that its REGISTER_OK or REGISTER_FAIL is not missed.
	accounts := accountLine(opt) + "\n"
	if opt.Registrar != "" {
		accounts = ""
	}
	if err := os.WriteFile(filepath.Join(dir, "accounts"), []byte(accounts), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "contacts"), nil, 0o644); err != nil {
		return nil, err
	}

	p := &Phone{t: t, opt: opt, dir: dir, port: port, ctl: ctl, exit: make(chan struct{}), log: &logBuffer{},
		replies: map[string]chan reply{}, changed: make(chan struct{})}
	args := []string{"-f", dir, "-v"}
	if opt.Trace {
		args = append(args, "-s")
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdin = nil // /dev/null: the stdio UI is not loaded
	cmd.Stdout, cmd.Stderr = p.log, p.log
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	p.cmd = cmd
	go func() {
		_ = cmd.Wait()
		close(p.exit)
	}()
	stop := func() {
		p.stopOnce.Do(func() {
			if p.conn != nil {
				p.conn.Close()
			}
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.exit:
			case <-time.After(5 * time.Second):
				_ = cmd.Process.Kill()
				<-p.exit
			}
		})
	}
	p.stop = stop
	// Connect to ctrl_tcp once baresip says it is ready (or gave up).
	err = p.log.waitFor(func(s string) bool { return strings.Contains(s, "baresip is ready") }, p.exit, Wait)
	// A port taken since we chose it: SIP's stops baresip, ctrl_tcp's
	// only its module.
	if s := p.log.String(); strings.Contains(s, "Address already in use") {
		stop()
		return nil, fmt.Errorf("%w: %s", errPortTaken, lastLines(s, 5))
	}
	if err != nil {
		stop()
		return nil, p.startErr(err)
	}
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(ctl)), Wait)
	if err != nil {
		stop()
		return nil, p.startErr(err)
	}
	p.conn = c
	go p.read()
	if opt.Registrar != "" {
		if _, err := p.Command("uanew", accountLine(opt)); err != nil {
			stop()
			return nil, p.startErr(err)
		}
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("baresip %s (SIP %s) log:\n%s", p.AOR(), p.Addr(), p.log.String())
			p.mu.Lock()
			for _, e := range p.events {
				t.Logf("baresip event %s", e)
			}
			p.mu.Unlock()
		}
	})
	return p, nil
}

func (p *Phone) startErr(err error) error {
	return fmt.Errorf("%w; baresip's log:\n%s", err, p.log.String())
}

// accountLine is the phone's line in baresip's accounts file.
func accountLine(opt Options) string {
	host := opt.IP
	params := ""
	if opt.Registrar != "" {
		host = opt.Registrar
	}
	if opt.Transport != "udp" {
		params = ";transport=" + opt.Transport
	}
	line := fmt.Sprintf("<sip:%s@%s%s>", opt.User, host, params)
	if opt.Display != "" {
		line = strconv.Quote(opt.Display) + " " + line
	}
	if opt.AutoAnswer {
		line += ";answermode=auto"
	} else {
		line += ";answermode=manual"
	}
	line += ";audio_codecs=pcmu,pcma"
	if opt.Registrar != "" {
		if opt.AuthUser != "" {
			line += ";auth_user=" + opt.AuthUser
		}
		if opt.AuthPass != "" {
			line += ";auth_pass=" + opt.AuthPass
		}
		line += ";regint=600"
	} else {
		line += ";regint=0"
	}
	return line
}

// AOR is the account's address (sip:user@host).
func (p *Phone) AOR() string {
	host := p.opt.IP
	if p.opt.Registrar != "" {
		host = p.opt.Registrar
	}
	return "sip:" + p.opt.User + "@" + host
}

// Addr is where the phone takes SIP (UDP and TCP).
func (p *Phone) Addr() string { return net.JoinHostPort(p.opt.IP, strconv.Itoa(p.port)) }

// Log is baresip's output so far. baresip's stdout is a pipe, so its
// stdio buffers: lines may come late; after Stop the log is complete.
func (p *Phone) Log() string { return p.log.String() }

// Stop ends baresip (SIGTERM, then SIGKILL if it lingers) and waits for
// it; the test's end does it anyway.
func (p *Phone) Stop() { p.stop() }

// read reads ctrl_tcp's netstrings: replies and events.
func (p *Phone) read() {
	r := bufio.NewReader(p.conn)
	for {
		n, err := r.ReadString(':')
		if err != nil {
			return
		}
		size, err := strconv.Atoi(strings.TrimSpace(n[:len(n)-1]))
		if err != nil || size < 0 || size > 1<<20 {
			return
		}
		b := make([]byte, size+1)
		if _, err := io.ReadFull(r, b); err != nil {
			return
		}
		var m map[string]any
		if json.Unmarshal(b[:size], &m) != nil {
			continue
		}
		str := func(k string) string { s, _ := m[k].(string); return s }
		switch {
		case m["response"] == true:
			ok, _ := m["ok"].(bool)
			p.mu.Lock()
			ch := p.replies[str("token")]
			delete(p.replies, str("token"))
			p.mu.Unlock()
			if ch != nil {
				ch <- reply{OK: ok, Data: str("data")}
			}
		case m["event"] == true:
			e := Event{Type: str("type"), Class: str("class"), AOR: str("accountaor"), Direction: str("direction"),
				PeerURI: str("peeruri"), PeerName: str("peerdisplayname"), ID: str("id"), Param: str("param"), At: time.Now()}
			p.mu.Lock()
			p.events = append(p.events, e)
			close(p.changed)
			p.changed = make(chan struct{})
			p.mu.Unlock()
		}
	}
}

// Command runs a baresip command (as typed after "/" in its console:
// "dial", "hangup", "accept", "reginfo", ...) and returns its output.
func (p *Phone) Command(name, params string) (string, error) {
	p.wmu.Lock()
	p.seq++
	token := name + "-" + strconv.Itoa(p.seq)
	ch := make(chan reply, 1)
	p.mu.Lock()
	p.replies[token] = ch
	p.mu.Unlock()
	m := map[string]string{"command": name, "token": token}
	if params != "" {
		m["params"] = params
	}
	b, _ := json.Marshal(m)
	_, err := fmt.Fprintf(p.conn, "%d:%s,", len(b), b)
	p.wmu.Unlock()
	if err != nil {
		return "", fmt.Errorf("baresip %s: %w", name, err)
	}
	select {
	case r := <-ch:
		if !r.OK {
			return r.Data, fmt.Errorf("baresip %s %s: %s", name, params, r.Data)
		}
		return r.Data, nil
	case <-p.exit:
		return "", fmt.Errorf("baresip %s: baresip exited", name)
	case <-time.After(Wait):
		return "", fmt.Errorf("baresip %s: no reply within %s", name, Wait)
	}
}

// Do runs a command and fails the test if it fails.
func (p *Phone) Do(name, params string) string {
	p.t.Helper()
	out, err := p.Command(name, params)
	if err != nil {
		p.t.Fatal(err)
	}
	return out
}

// Dial calls uri (sip:number@host:port).
func (p *Phone) Dial(uri string) { p.t.Helper(); p.Do("dial", uri) }

// Hangup hangs up the current call.
func (p *Phone) Hangup() { p.t.Helper(); p.Do("hangup", "") }

// Events are the events so far.
func (p *Phone) Events() []Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Event(nil), p.events...)
}

// WaitEvent waits for an event of type typ (after the first skip events
// of any type, see Mark) that match accepts (nil: any), and returns it.
func (p *Phone) WaitEvent(from int, typ string, match func(Event) bool) Event {
	p.t.Helper()
	e, err := p.waitEvent(from, typ, match)
	if err != nil {
		p.t.Fatal(err)
	}
	return e
}

func (p *Phone) waitEvent(from int, typ string, match func(Event) bool) (Event, error) {
	deadline := time.After(Wait)
	for {
		p.mu.Lock()
		for _, e := range p.events[min(from, len(p.events)):] {
			if e.Type == typ && (match == nil || match(e)) {
				p.mu.Unlock()
				return e, nil
			}
		}
		changed := p.changed
		seen := make([]string, 0, len(p.events))
		for _, e := range p.events {
			seen = append(seen, e.Type+"("+e.Param+")")
		}
		p.mu.Unlock()
		select {
		case <-changed:
		case <-p.exit:
			return Event{}, fmt.Errorf("baresip exited while waiting for %s (events: %v)", typ, seen)
		case <-deadline:
			return Event{}, fmt.Errorf("baresip: no %s within %s (events: %v)", typ, Wait, seen)
		}
	}
}

// Mark is the number of events so far: WaitEvent(p.Mark(), ...) waits for
// an event that comes after now.
func (p *Phone) Mark() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.events)
}

// Heard is what the phone heard so far (the sndfile recording of its
// decoder, 16-bit samples at Rate), or nil before a call's audio.
func (p *Phone) Heard() []int16 { return p.recording("dec") }

// Said is what the phone sent so far (its encoder's recording).
func (p *Phone) Said() []int16 { return p.recording("enc") }

// RecordingPath is the newest recording of the direction (dec: heard,
// enc: sent), or "" if none.
func (p *Phone) RecordingPath(dir string) string {
	files, _ := filepath.Glob(filepath.Join(p.dir, "rec", "dump-*-"+dir+".wav"))
	if len(files) == 0 {
		return ""
	}
	sort.Strings(files)
	return files[len(files)-1]
}

func (p *Phone) recording(dir string) []int16 {
	path := p.RecordingPath(dir)
	if path == "" {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	return wavSamples(b)
}

// wavSamples reads the 16-bit samples of a WAV file that may still be
// being written (its sizes not final): everything after the data chunk's
// header.
func wavSamples(b []byte) []int16 {
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil
	}
	off := 12
	for off+8 <= len(b) {
		id := string(b[off : off+4])
		size := int(binary.LittleEndian.Uint32(b[off+4 : off+8]))
		off += 8
		if id == "data" {
			data := b[off:]
			s := make([]int16, len(data)/2)
			for i := range s {
				s[i] = int16(binary.LittleEndian.Uint16(data[2*i:]))
			}
			return s
		}
		off += size + size&1
	}
	return nil
}

// WriteTone writes a mono 16-bit WAV at Rate holding a sine of hz (0:
// silence) at a third of full scale for d.
func WriteTone(path string, hz float64, d time.Duration) error {
	n := int(d.Seconds() * Rate)
	var buf bytes.Buffer
	buf.Grow(44 + 2*n)
	le := binary.LittleEndian
	buf.WriteString("RIFF")
	_ = binary.Write(&buf, le, uint32(36+2*n))
	buf.WriteString("WAVEfmt ")
	_ = binary.Write(&buf, le, uint32(16))
	_ = binary.Write(&buf, le, uint16(1)) // PCM
	_ = binary.Write(&buf, le, uint16(1)) // mono
	_ = binary.Write(&buf, le, uint32(Rate))
	_ = binary.Write(&buf, le, uint32(2*Rate))
	_ = binary.Write(&buf, le, uint16(2))
	_ = binary.Write(&buf, le, uint16(16))
	buf.WriteString("data")
	_ = binary.Write(&buf, le, uint32(2*n))
	s := make([]byte, 2)
	for i := range n {
		v := int16(math.Round(10000 * math.Sin(2*math.Pi*hz*float64(i)/Rate)))
		le.PutUint16(s, uint16(v))
		buf.Write(s)
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// freePortPair is a port free for UDP and TCP whose next port is free
// for TCP too (baresip listens for TLS there), a moment ago.
func freePortPair(ip string) (int, error) {
	for range 50 {
		u, err := net.ListenPacket("udp", net.JoinHostPort(ip, "0"))
		if err != nil {
			return 0, err
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		t1, err1 := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
		t2, err2 := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port+1)))
		u.Close()
		if t1 != nil {
			t1.Close()
		}
		if t2 != nil {
			t2.Close()
		}
		if err1 == nil && err2 == nil && port < 65535 {
			return port, nil
		}
	}
	return 0, errors.New("no free port pair for baresip")
}

func freeTCPPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// logBuffer collects baresip's output and wakes those waiting on it.
type logBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{}
}

func (l *logBuffer) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() < 4<<20 {
		l.b.Write(b)
	}
	if l.changed != nil {
		close(l.changed)
		l.changed = nil
	}
	return len(b), nil
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitFor waits until ok(log) holds, the process exits or d passes.
func (l *logBuffer) waitFor(ok func(string) bool, exit <-chan struct{}, d time.Duration) error {
	deadline := time.After(d)
	for {
		l.mu.Lock()
		s := l.b.String()
		if l.changed == nil {
			l.changed = make(chan struct{})
		}
		ch := l.changed
		l.mu.Unlock()
		if ok(s) {
			return nil
		}
		select {
		case <-ch:
		case <-exit:
			return errors.New("baresip exited")
		case <-deadline:
			return fmt.Errorf("baresip not ready within %s", d)
		}
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
