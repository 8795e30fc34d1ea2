package notify

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/sluice-ci/sluice/internal/lazyre"
	"github.com/sluice-ci/sluice/internal/store"
)

// Sealer seals secrets; *secrets.Keyring is one.
type Sealer interface {
	Seal(plaintext []byte, context string) ([]byte, error)
}

// channelSecret is what a channel's sealed secret holds.
type channelSecret struct {
	URL        string `json:"url,omitempty"`
	SigningKey string `json:"signing_key,omitempty"`
}

// secretContext binds a channel's sealed secret to its scope (repository
// ID, or * server-wide) and name, so a ciphertext copied to another
// channel's row does not open there.
func secretContext(repoID *int64, channel string) string {
	scope := "*"
	if repoID != nil {
		scope = strconv.FormatInt(*repoID, 10)
	}
	return "notify:" + scope + ":" + channel
}

// smtpContext is the sealing context of the SMTP relay's password.
const smtpContext = "notify:smtp"

// ChannelInput is a channel as a form or the API gives it. URL and
// SigningKey are write-only: empty on an update keeps the stored ones.
type ChannelInput struct {
	Kind       string   `json:"kind"`
	Name       string   `json:"name"`
	Events     []string `json:"events"`
	URL        string   `json:"url,omitempty"`
	SigningKey string   `json:"signing_key,omitempty"`
	To         []string `json:"to,omitempty"`
}

var channelName = lazyre.New(`^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$`)

// maxRecipients bounds an email channel's recipients.
const maxRecipients = 50

// Validate checks in; creating says whether the channel is new (its URL is
// then required).
func (in *ChannelInput) Validate(creating bool) error {
	in.Name = strings.TrimSpace(in.Name)
	if !channelName.MatchString(in.Name) {
		return fmt.Errorf("channel name %q: use letters, digits, spaces, '.', '_' and '-' (at most 64)", in.Name)
	}
	if !slices.Contains(Kinds, in.Kind) {
		return fmt.Errorf("channel kind %q: want %s", in.Kind, strings.Join(Kinds, ", "))
	}
	if len(in.Events) == 0 {
		return fmt.Errorf("choose at least one of %s", strings.Join(Events, ", "))
	}
	for _, e := range in.Events {
		if !slices.Contains(Events, e) {
			return fmt.Errorf("event %q: want %s", e, strings.Join(Events, ", "))
		}
	}
	switch in.Kind {
	case KindSlack, KindWebhook:
		if in.URL == "" {
			if creating {
				return errors.New("a webhook channel needs its URL")
			}
		} else if err := checkURL(in.URL); err != nil {
			return err
		}
		if len(in.SigningKey) > 256 {
			return errors.New("the signing key is longer than 256 characters")
		}
		in.To = nil
	case KindEmail:
		var to []string
		for _, a := range in.To {
			for _, part := range strings.FieldsFunc(a, func(r rune) bool { return r == ',' || r == '\n' || r == ' ' }) {
				addr, err := mail.ParseAddress(part)
				if err != nil || strings.ContainsAny(addr.Address, "\r\n") {
					return fmt.Errorf("recipient %q is not an email address", part)
				}
				to = append(to, addr.Address)
			}
		}
		if len(to) == 0 {
			return errors.New("an email channel needs at least one recipient")
		}
		if len(to) > maxRecipients {
			return fmt.Errorf("%d recipients: at most %d", len(to), maxRecipients)
		}
		in.To, in.URL, in.SigningKey = to, "", ""
	}
	return nil
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(s) > 2048 {
		return errors.New("the webhook URL must be an http:// or https:// URL")
	}
	if u.User != nil {
		return errors.New("the webhook URL must not carry a user name or password")
	}
	return nil
}

// Keys seal and open secrets; *secrets.Keyring is one.
type Keys interface {
	Sealer
	Opener
}

// Record makes the store's record of in for repository repoID (nil
// server-wide), sealing its secret; prev is the stored channel being
// updated (nil when creating), whose secret is kept, re-sealed under a new
// name, when in gives none.
func Record(keys Keys, repoID *int64, in ChannelInput, prev *store.NotifyChannel) (store.NotifyChannel, error) {
	c := store.NotifyChannel{RepoID: repoID, Kind: in.Kind, Name: in.Name, Events: in.Events}
	if prev != nil {
		c.ID = prev.ID
	}
	switch in.Kind {
	case KindEmail:
		c.Target = strings.Join(in.To, ", ")
		c.Secret = []byte{} // nothing secret
		return c, nil
	}
	sec := channelSecret{URL: in.URL, SigningKey: in.SigningKey}
	if prev != nil && (sec.URL == "" || sec.SigningKey == "") {
		old, err := openSecret(keys, *prev)
		if err != nil {
			return c, err
		}
		if sec.URL == "" {
			sec.URL = old.URL
		}
		if sec.SigningKey == "" {
			sec.SigningKey = old.SigningKey
		}
	}
	if in.Kind == KindWebhook && sec.SigningKey == "" {
		sec.SigningKey = newID() + newID()
	}
	if in.Kind == KindSlack {
		sec.SigningKey = ""
	}
	u, err := url.Parse(sec.URL)
	if err != nil {
		return c, fmt.Errorf("the webhook URL: %w", err)
	}
	c.Target = u.Scheme + "://" + u.Host
	b, _ := json.Marshal(sec)
	if c.Secret, err = keys.Seal(b, secretContext(repoID, in.Name)); err != nil {
		return c, fmt.Errorf("sealing the channel's URL: %w", err)
	}
	return c, nil
}

// SigningKey returns a webhook channel's signing key, for showing it once
// after it was made.
func SigningKey(keys Opener, c store.NotifyChannel) (string, error) {
	sec, err := openSecret(keys, c)
	return sec.SigningKey, err
}

func openSecret(keys Opener, c store.NotifyChannel) (channelSecret, error) {
	var sec channelSecret
	if len(c.Secret) == 0 {
		return sec, nil
	}
	b, err := keys.Open(c.Secret, secretContext(c.RepoID, c.Name))
	if err != nil {
		return sec, fmt.Errorf("opening the secret of channel %s: %w", c.Name, err)
	}
	if err := json.Unmarshal(b, &sec); err != nil {
		return sec, fmt.Errorf("reading the secret of channel %s: %w", c.Name, err)
	}
	return sec, nil
}

// OpenTarget opens channel c into where to send.
func OpenTarget(keys Opener, c store.NotifyChannel) (Target, error) {
	t := Target{Kind: c.Kind}
	if c.Kind == KindEmail {
		for _, a := range strings.Split(c.Target, ",") {
			if a = strings.TrimSpace(a); a != "" {
				t.To = append(t.To, a)
			}
		}
		return t, nil
	}
	sec, err := openSecret(keys, c)
	if err != nil {
		return t, &permanent{err}
	}
	t.URL, t.SigningKey = sec.URL, sec.SigningKey
	return t, nil
}

// SMTPInput is the relay as a form or the API gives it; an empty Password
// keeps the stored one.
type SMTPInput struct {
	Host     string `json:"host"`
	Port     int    `json:"port"`
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	From     string `json:"from"`
	TLS      string `json:"tls,omitempty"`
}

var hostName = lazyre.New(`^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$|^\[[0-9A-Fa-f:.]+\]$`)

// Record validates in and makes the store's record, sealing the password.
func (in SMTPInput) Record(keys Sealer) (store.NotifySMTP, error) {
	r := store.NotifySMTP{Host: strings.TrimSpace(in.Host), Port: in.Port, Username: in.Username, TLS: in.TLS}
	if !hostName.MatchString(r.Host) {
		return r, fmt.Errorf("SMTP host %q: want a host name or address", in.Host)
	}
	if r.Port == 0 {
		r.Port = 587
	}
	if r.Port < 1 || r.Port > 65535 {
		return r, fmt.Errorf("SMTP port %d: want 1-65535", in.Port)
	}
	switch r.TLS {
	case "":
		r.TLS = "starttls"
	case "starttls", "tls", "none":
	default:
		return r, fmt.Errorf("SMTP TLS %q: want starttls, tls or none", in.TLS)
	}
	from, err := mail.ParseAddress(in.From)
	if err != nil {
		return r, fmt.Errorf("From address %q: %w", in.From, err)
	}
	r.From = from.Address
	if strings.ContainsAny(r.Username, "\r\n") || strings.ContainsAny(in.Password, "\r\n") {
		return r, errors.New("the SMTP user name and password must be one line each")
	}
	if in.Password != "" {
		if r.Password, err = keys.Seal([]byte(in.Password), smtpContext); err != nil {
			return r, fmt.Errorf("sealing the SMTP password: %w", err)
		}
	}
	return r, nil
}

// OpenSMTP opens the stored relay's password.
func OpenSMTP(keys Opener, r *store.NotifySMTP) (*SMTP, error) {
	s := &SMTP{Host: r.Host, Port: r.Port, Username: r.Username, From: r.From, TLS: r.TLS}
	if len(r.Password) > 0 {
		b, err := keys.Open(r.Password, smtpContext)
		if err != nil {
			return nil, &permanent{fmt.Errorf("opening the SMTP password: %w", err)}
		}
		s.Password = string(b)
	}
	return s, nil
}
