// Package notify tells people what happened: a run failed, a branch
// recovered (first green after red), a deployment waits for their approval,
// an environment was rolled back. It reads the store's event log (so it
// decides from what was recorded, never from a second bookkeeping) and
// sends each message to the repository's channels, or to the server-wide
// defaults when the repository has none: a Slack-compatible incoming
// webhook, a JSON webhook signed with HMAC-SHA256, or email through an SMTP
// relay.
package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/mail"
	"net/smtp"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Channel kinds.
const (
	KindSlack   = "slack"
	KindWebhook = "webhook"
	KindEmail   = "email"
)

// Kinds lists the channel kinds.
var Kinds = []string{KindSlack, KindWebhook, KindEmail}

// What a message is about.
const (
	EventFailure  = "failure"  // a run failed
	EventRecovery = "recovery" // a run succeeded after its workflow's last run on that ref failed
	EventApproval = "approval" // a deployment waits for reviewers
	EventRollback = "rollback" // a rollback started
	EventTest     = "test"     // the "Send a test" button
)

// Events lists the events a channel can subscribe to.
var Events = []string{EventFailure, EventRecovery, EventApproval, EventRollback}

// Headers of the signed JSON webhook.
const (
	HeaderEvent     = "X-Sluice-Event"
	HeaderDelivery  = "X-Sluice-Delivery"
	HeaderTimestamp = "X-Sluice-Timestamp"
	// HeaderSignature is "sha256=" and the hex HMAC-SHA256, keyed with the
	// channel's signing key, of the timestamp header's value, a ".", and the
	// request body. Receivers should recompute it, compare in constant time
	// and refuse timestamps more than a few minutes old (replays).
	HeaderSignature = "X-Sluice-Signature-256"
)

// Message is one notification, whatever carries it. It is also the body of
// the signed JSON webhook.
type Message struct {
	Event string    `json:"event"`
	Repo  string    `json:"repository"`
	Title string    `json:"title"`          // one line
	Text  string    `json:"text,omitempty"` // a few lines of detail
	URL   string    `json:"url,omitempty"`  // the page to open
	Time  time.Time `json:"time"`
	// Run is set for failure and recovery.
	Run *RunInfo `json:"run,omitempty"`
	// Deployment is set for approval and rollback.
	Deployment *DeploymentInfo `json:"deployment,omitempty"`
}

// RunInfo describes the run a message is about.
type RunInfo struct {
	ID         int64    `json:"id"`
	Number     int64    `json:"number"`
	Workflow   string   `json:"workflow"`
	Ref        string   `json:"ref"`
	SHA        string   `json:"sha"`
	Actor      string   `json:"actor,omitempty"`
	Conclusion string   `json:"conclusion"`
	FailedJobs []string `json:"failed_jobs,omitempty"`
}

// DeploymentInfo describes the promotion a message is about.
type DeploymentInfo struct {
	Promotion   int64    `json:"promotion"`
	Environment string   `json:"environment"`
	Release     string   `json:"release"`
	Version     string   `json:"version,omitempty"`
	Kind        string   `json:"kind"`
	StartedBy   string   `json:"started_by"`
	Automatic   bool     `json:"automatic,omitempty"`
	Reviewers   []string `json:"reviewers,omitempty"` // who may approve
	Approvals   int      `json:"approvals_needed,omitempty"`
}

// Target is a channel with its secrets opened: where and how to send.
type Target struct {
	Kind       string
	URL        string   // slack, webhook
	SigningKey string   // webhook
	To         []string // email
}

// SMTP is the relay email goes through, password opened.
type SMTP struct {
	Host     string
	Port     int
	Username string
	Password string
	From     string
	TLS      string // starttls (default), tls, none
	// RootCAs verifies the relay's certificate; nil means the system's.
	RootCAs *tls.Config
}

// Sender delivers messages. Its zero value is not usable; set HTTP.
type Sender struct {
	HTTP *http.Client
	// SMTP is the relay for email targets; nil refuses them.
	SMTP *SMTP
	// Timeout bounds one delivery (connect, send, answer).
	Timeout time.Duration
}

// maxBody bounds the webhook answers read (for error messages).
const maxBody = 4 << 10

// Send delivers m to t.
func (s *Sender) Send(ctx context.Context, t Target, m Message) error {
	if s.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.Timeout)
		defer cancel()
	}
	switch t.Kind {
	case KindSlack:
		return s.post(ctx, t.URL, slackBody(m), nil)
	case KindWebhook:
		body, err := json.Marshal(m)
		if err != nil {
			return fmt.Errorf("encoding the message: %w", err)
		}
		ts := strconv.FormatInt(m.Time.Unix(), 10)
		h := http.Header{}
		h.Set(HeaderEvent, m.Event)
		h.Set(HeaderDelivery, newID())
		h.Set(HeaderTimestamp, ts)
		h.Set(HeaderSignature, Sign([]byte(t.SigningKey), ts, body))
		return s.post(ctx, t.URL, body, h)
	case KindEmail:
		return s.mail(ctx, t.To, m)
	}
	return fmt.Errorf("unknown channel kind %q", t.Kind)
}

// Sign is the value of HeaderSignature for a body sent at timestamp ts.
func Sign(key []byte, ts string, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(ts))
	mac.Write([]byte("."))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a signed webhook's signature, as a receiver would.
func Verify(key []byte, ts string, body []byte, signature string) bool {
	return hmac.Equal([]byte(Sign(key, ts, body)), []byte(signature))
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// slackBody is an incoming-webhook payload: Slack's, which Mattermost,
// Rocket.Chat, Zulip's Slack endpoint and Discord's /slack read too.
func slackBody(m Message) []byte {
	var b strings.Builder
	b.WriteString("*" + slackEscape(m.Title) + "*")
	if m.Text != "" {
		b.WriteString("\n" + slackEscape(m.Text))
	}
	if m.URL != "" {
		b.WriteString("\n<" + m.URL + "|Open in sluice>")
	}
	out, _ := json.Marshal(map[string]string{"text": b.String()})
	return out
}

// slackEscape keeps a branch or job name from forming Slack markup (links,
// mentions like <!channel>).
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func (s *Sender) post(ctx context.Context, target string, body []byte, h http.Header) error {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return errors.New("the channel's URL is not an http(s) URL")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("building the request to %s: %w", u.Host, err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "sluice-notify")
	resp, err := s.HTTP.Do(req)
	if err != nil {
		// The URL may hold a token (Slack's do): name only its host.
		return fmt.Errorf("posting to %s: %w", u.Host, redactURLError(err))
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s answered %s: %s", u.Host, resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}

// redactURLError drops the URL a *url.Error carries.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// mail sends m to the recipients through the SMTP relay.
func (s *Sender) mail(ctx context.Context, to []string, m Message) error {
	if s.SMTP == nil || s.SMTP.Host == "" {
		return errors.New("no SMTP relay is set: set one on the server's notifications page")
	}
	if len(to) == 0 {
		return errors.New("the channel has no recipients")
	}
	from, err := mail.ParseAddress(s.SMTP.From)
	if err != nil {
		return fmt.Errorf("the relay's From address %q: %w", s.SMTP.From, err)
	}
	var rcpt []string
	for _, a := range to {
		addr, err := mail.ParseAddress(a)
		if err != nil {
			return fmt.Errorf("recipient %q: %w", a, err)
		}
		rcpt = append(rcpt, addr.Address)
	}
	msg := buildMail(from.Address, rcpt, m)
	cfg := s.SMTP
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	d := net.Dialer{}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("connecting to the SMTP relay %s: %w", addr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	tlsCfg := &tls.Config{ServerName: cfg.Host, MinVersion: tls.VersionTLS12}
	if cfg.RootCAs != nil {
		tlsCfg = cfg.RootCAs.Clone()
		tlsCfg.ServerName = cfg.Host
	}
	if cfg.TLS == "tls" {
		conn = tls.Client(conn, tlsCfg)
	}
	c, err := smtp.NewClient(conn, cfg.Host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("talking to the SMTP relay %s: %w", addr, err)
	}
	defer c.Close()
	if cfg.TLS == "" || cfg.TLS == "starttls" {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return fmt.Errorf("the SMTP relay %s does not offer STARTTLS: set TLS to none to send in the clear", addr)
		}
		if err := c.StartTLS(tlsCfg); err != nil {
			return fmt.Errorf("STARTTLS with %s: %w", addr, err)
		}
	}
	if cfg.Username != "" {
		// PlainAuth refuses to send the password unencrypted except to
		// localhost, which is what we want.
		if err := c.Auth(smtp.PlainAuth("", cfg.Username, cfg.Password, cfg.Host)); err != nil {
			return fmt.Errorf("signing in to the SMTP relay %s as %s: %w", addr, cfg.Username, err)
		}
	}
	if err := c.Mail(from.Address); err != nil {
		return fmt.Errorf("SMTP MAIL FROM %s: %w", from.Address, err)
	}
	for _, r := range rcpt {
		if err := c.Rcpt(r); err != nil {
			return fmt.Errorf("SMTP RCPT TO %s: %w", r, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("SMTP DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("sending the message: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("sending the message: %w", err)
	}
	return c.Quit()
}

// buildMail writes a plain-text message. Everything that comes from a
// repository (titles hold branch and workflow names) is folded onto one
// line and encoded, so it can never add a header.
func buildMail(from string, to []string, m Message) []byte {
	var b bytes.Buffer
	hdr := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	hdr("From", "sluice <"+from+">")
	hdr("To", strings.Join(to, ", "))
	hdr("Subject", mime.QEncoding.Encode("utf-8", oneLine(m.Title)))
	hdr("Date", m.Time.Format(time.RFC1123Z))
	hdr("Message-ID", "<"+newID()+"@sluice>")
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", "text/plain; charset=utf-8")
	hdr("Content-Transfer-Encoding", "8bit")
	hdr("X-Sluice-Event", m.Event)
	b.WriteString("\r\n")
	body := m.Title + "\n"
	if m.Text != "" {
		body += "\n" + m.Text + "\n"
	}
	if m.URL != "" {
		body += "\n" + m.URL + "\n"
	}
	// net/smtp's DATA writer dot-stuffs lines itself.
	for _, line := range strings.Split(strings.ReplaceAll(body, "\r", ""), "\n") {
		b.WriteString(line + "\r\n")
	}
	return b.Bytes()
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
