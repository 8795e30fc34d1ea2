// Package serverconfig reads the settings of `sluice serve` from a TOML file, the environment
// and flags, in that order of precedence (a flag beats the environment, which beats the file,
// which beats the default). One table (Settings) names every setting once: its file key, its
// environment variable, its flag, its default and what it does; the flags, the README's table
// and the error messages all come from it.
//
// Secrets are never settings: a setting names the file that holds one (admin_token_file,
// secret_key_file, db_password_file), so they stay out of the file, the process list and the
// environment of what the server starts.
package serverconfig

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/sluice-ci/sluice/internal/lazyre"
)

// Config is the server's settings after Load.
type Config struct {
	Data    string // data directory (mirrors, local blobs, SQLite)
	Addr    string
	BaseURL string
	DB      string // database DSN; "" means SQLite in Data
	Blob    string // blob store location; "" means Data/blobs
	Agents  int
	Poll    time.Duration
	Sandbox string
	// SandboxReadOnly are directories of tools every sandboxed job of the embedded agent may
	// read (besides the system directories).
	SandboxReadOnly []string
	// DeliveryRetention is how long processed and rejected webhook deliveries are kept.
	DeliveryRetention time.Duration
	// DepsEvery is how often scheduled dependency updates are looked at (0: off).
	DepsEvery time.Duration
	Replica   string // this process's name among replicas

	// Where the embedded agent gets actions and reusable workflows that are not built in
	// (actions.Resolver's Store, Mirror and BaseURL).
	ActionStore  string
	ActionMirror string
	GitHubURL    string

	AdminTokenFile    string
	AdminPasswordFile string // "-" prompts for the password at start
	SecretKeyFile     string
	DBPasswordFile    string

	// Sources says where each setting's value came from: "default", "FILE:LINE", "$ENV" or
	// "--flag" (for --check-config).
	Sources map[string]string
}

// Setting is one row of the settings table.
type Setting struct {
	Key     string // in the TOML file
	Env     string
	Flag    string
	Default string
	Help    string
	Secret  bool // names a file holding a secret
	set     func(c *Config, v string) error
	get     func(c *Config) string
}

// Settings returns the table of every setting, in the order the README lists them.
func Settings() []Setting {
	str := func(dst func(*Config) *string) (func(*Config, string) error, func(*Config) string) {
		return func(c *Config, v string) error { *dst(c) = v; return nil }, func(c *Config) string { return *dst(c) }
	}
	row := func(key, def, help string, secret bool, dst func(*Config) *string) Setting {
		set, get := str(dst)
		return Setting{Key: key, Env: "SLUICE_" + strings.ToUpper(key), Flag: strings.ReplaceAll(key, "_", "-"),
			Default: def, Help: help, Secret: secret, set: set, get: get}
	}
	agents := row("agents", "2", "jobs the embedded agent runs at once (0: no embedded agent)", false, nil)
	agents.set = func(c *Config, v string) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 || n > 1024 {
			return fmt.Errorf("want a whole number from 0 to 1024, got %q", v)
		}
		c.Agents = n
		return nil
	}
	agents.get = func(c *Config) string { return strconv.Itoa(c.Agents) }
	// interval is a duration setting where 0s turns the work off and anything else must be at
	// least a second apart; example and verb word its errors.
	interval := func(key, def, help, example, verb string, dst func(*Config) *time.Duration) Setting {
		st := row(key, def, help, false, nil)
		st.set = func(c *Config, v string) error {
			d, err := time.ParseDuration(strings.TrimSpace(v))
			if err != nil || d < 0 {
				return fmt.Errorf("want a duration such as %s, got %q", example, v)
			}
			if d > 0 && d < time.Second {
				return fmt.Errorf("%s is too often: %s at most once a second", d, verb)
			}
			*dst(c) = d
			return nil
		}
		st.get = func(c *Config) string { return dst(c).String() }
		return st
	}
	poll := interval("poll", "0s", "poll repositories for new commits this often (0s: webhooks only)", "60s or 5m", "poll",
		func(c *Config) *time.Duration { return &c.Poll })
	depsEvery := interval("deps_every", "1m0s", "how often scheduled dependency updates are looked at and moved along (0s: off)",
		"1m or 1h", "look", func(c *Config) *time.Duration { return &c.DepsEvery })
	retention := row("delivery_retention", "720h0m0s", "keep processed and rejected webhook deliveries this long", false, nil)
	retention.set = func(c *Config, v string) error {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil || d <= 0 {
			return fmt.Errorf("want a positive duration such as 720h, got %q", v)
		}
		c.DeliveryRetention = d
		return nil
	}
	retention.get = func(c *Config) string { return c.DeliveryRetention.String() }
	readOnly := row("sandbox_readonly", "", "directories of tools every sandboxed job may read, separated by "+string(os.PathListSeparator), false, nil)
	readOnly.set = func(c *Config, v string) error {
		c.SandboxReadOnly = nil
		for _, d := range filepath.SplitList(v) {
			if d = strings.TrimSpace(d); d == "" {
				continue
			}
			if !filepath.IsAbs(d) {
				return fmt.Errorf("%q is not an absolute path", d)
			}
			c.SandboxReadOnly = append(c.SandboxReadOnly, filepath.Clean(d))
		}
		return nil
	}
	readOnly.get = func(c *Config) string { return strings.Join(c.SandboxReadOnly, string(os.PathListSeparator)) }
	sandbox := row("sandbox", "auto", "run the embedded agent's jobs in a bubblewrap sandbox that never mounts the data directory: auto (when this machine can), on or off", false,
		func(c *Config) *string { return &c.Sandbox })
	setSandbox := sandbox.set
	sandbox.set = func(c *Config, v string) error {
		switch v {
		case "auto", "on", "off":
			return setSandbox(c, v)
		}
		return fmt.Errorf("want auto, on or off, got %q", v)
	}
	return []Setting{
		row("data", "", "data directory: repository mirrors, the SQLite database and local blobs (default: the state directory's server/)", false,
			func(c *Config) *string { return &c.Data }),
		row("addr", "127.0.0.1:8080", "address to listen on", false, func(c *Config) *string { return &c.Addr }),
		row("base_url", "", "URL browsers, forges and agents use to reach the server (default http://ADDR); replicas behind a load balancer share it", false,
			func(c *Config) *string { return &c.BaseURL }),
		row("db", "", "database: postgres://USER@HOST/DB (replicas share it) or a SQLite file (default DATA/sluice.db)", false,
			func(c *Config) *string { return &c.DB }),
		row("db_password_file", "", "file holding the Postgres password, added to db", true, func(c *Config) *string { return &c.DBPasswordFile }),
		row("blob", "", "object store for logs of finished jobs and, with db on Postgres, artifacts, releases and caches: a directory or s3://BUCKET[/PREFIX]?endpoint=HOST:PORT&access_key_file=…&secret_key_file=… (default DATA/blobs)", false,
			func(c *Config) *string { return &c.Blob }),
		agents,
		poll,
		sandbox,
		readOnly,
		depsEvery,
		retention,
		row("action_store", "", "directory of actions and reusable workflows used before fetching (by the embedded agent and by planning): OWNER/REPO@REF or OWNER/REPO checkouts", false,
			func(c *Config) *string { return &c.ActionStore }),
		row("action_mirror", "", "fetch actions and reusable workflows from this git URL template instead of GitHub, e.g. https://git.example.com/{owner}/{repo}.git", false,
			func(c *Config) *string { return &c.ActionMirror }),
		row("github_url", "https://github.com", "git server actions are fetched from as OWNER/REPO, e.g. a GitHub Enterprise Server", false,
			func(c *Config) *string { return &c.GitHubURL }),
		row("replica", "", "this server's name among replicas, in logs and leases (default: the host name and process id)", false,
			func(c *Config) *string { return &c.Replica }),
		row("admin_token_file", "", "file holding the admin token to register (else one is made and printed at the first start)", true,
			func(c *Config) *string { return &c.AdminTokenFile }),
		row("admin_password_file", "", "file holding the web UI's admin password (- prompts for it at start)", true,
			func(c *Config) *string { return &c.AdminPasswordFile }),
		row("secret_key_file", "", "file holding the 32-byte base64 key that encrypts secrets (default DATA/secret.key); replicas must share it", true,
			func(c *Config) *string { return &c.SecretKeyFile }),
	}
}

// Load reads the settings: defaults, then the TOML file at path (none when ""), then the
// environment through getenv, then flags (name → value, only those given on the command line).
func Load(path string, getenv func(string) string, flags map[string]string) (*Config, error) {
	c := &Config{Sources: map[string]string{}}
	table := Settings()
	for _, s := range table {
		if err := s.set(c, s.Default); err != nil {
			panic(fmt.Sprintf("setting %s: bad default: %v", s.Key, err))
		}
		c.Sources[s.Key] = "default"
	}
	if path != "" {
		if err := loadFile(c, table, path); err != nil {
			return nil, err
		}
	}
	var errs []error
	for _, s := range table {
		if v := getenv(s.Env); v != "" {
			if err := s.set(c, v); err != nil {
				errs = append(errs, fmt.Errorf("$%s: %w", s.Env, err))
			}
			c.Sources[s.Key] = "$" + s.Env
		}
	}
	for _, s := range table {
		if v, ok := flags[s.Flag]; ok {
			if err := s.set(c, v); err != nil {
				errs = append(errs, fmt.Errorf("--%s: %w", s.Flag, err))
			}
			c.Sources[s.Key] = "--" + s.Flag
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

var keyLine = lazyre.New(`^\s*([A-Za-z0-9_-]+)\s*=`)

// loadFile applies the TOML file's settings; errors name the file and line (and column for
// syntax errors).
func loadFile(c *Config, table []Setting, path string) error {
	body, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading the configuration: %w", err)
	}
	var raw map[string]any
	if _, err := toml.Decode(string(body), &raw); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return fmt.Errorf("%s:%d:%d: %s", path, pe.Position.Line, pe.Position.Col, pe.Message)
		}
		return fmt.Errorf("%s: %w", path, err)
	}
	lines := map[string]int{}
	for i, l := range strings.Split(string(body), "\n") {
		if m := keyLine.FindStringSubmatch(l); m != nil {
			if _, seen := lines[m[1]]; !seen {
				lines[m[1]] = i + 1
			}
		}
	}
	byKey := map[string]Setting{}
	for _, s := range table {
		byKey[s.Key] = s
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return lines[keys[i]] < lines[keys[j]] })
	var errs []error
	for _, k := range keys {
		at := fmt.Sprintf("%s:%d", path, lines[k])
		s, ok := byKey[k]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: unknown setting %q%s", at, k, suggest(k, table)))
			continue
		}
		var v string
		switch x := raw[k].(type) {
		case string:
			v = x
		case int64:
			v = strconv.FormatInt(x, 10)
		case bool:
			v = map[bool]string{true: "on", false: "off"}[x]
		default:
			errs = append(errs, fmt.Errorf("%s: %s: want a string or a number, got %T", at, k, x))
			continue
		}
		if err := s.set(c, v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s: %w", at, k, err))
			continue
		}
		c.Sources[k] = at
	}
	return errors.Join(errs...)
}

// suggest names the closest known key, for a misspelt one.
func suggest(k string, table []Setting) string {
	best, bestD := "", 3
	for _, s := range table {
		if d := distance(strings.ToLower(k), s.Key); d < bestD {
			best, bestD = s.Key, d
		}
	}
	if best == "" {
		return " (see sluice serve --help for the settings)"
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// Value returns setting key's value as text.
func (c *Config) Value(key string) string {
	for _, s := range Settings() {
		if s.Key == key {
			return s.get(c)
		}
	}
	return ""
}

// Check validates what Load could not check setting by setting, and reads the secret files:
// what a server would fail on at start, found before it starts. It returns warnings (things
// that work but are likely mistakes) and the error.
func (c *Config) Check() (warnings []string, err error) {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("addr %q: want HOST:PORT, e.g. 0.0.0.0:8080", c.Addr))
	}
	if c.BaseURL != "" {
		if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("base_url %q: want http(s)://HOST[:PORT][/PATH]", c.BaseURL))
		}
	}
	postgres := strings.HasPrefix(c.DB, "postgres://") || strings.HasPrefix(c.DB, "postgresql://")
	if c.DBPasswordFile != "" && !postgres {
		errs = append(errs, errors.New("db_password_file is set but db is not a postgres:// URL"))
	}
	if postgres {
		if u, err := url.Parse(c.DB); err != nil {
			errs = append(errs, fmt.Errorf("db: not a URL: want postgres://USER@HOST[:PORT]/DATABASE"))
		} else if _, has := u.User.Password(); has {
			warnings = append(warnings, "db holds a password: put it in a file named by db_password_file instead")
		}
		if c.SecretKeyFile == "" {
			warnings = append(warnings, "db is Postgres but secret_key_file is not set: each replica would make its own key "+
				"in its data directory and could not read secrets another replica stored")
		}
		if c.Blob == "" {
			warnings = append(warnings, "db is Postgres but blob is a local directory: other replicas cannot read the logs this one archives; "+
				"use s3://… (or a directory all replicas share)")
		}
	}
	for _, f := range []struct{ key, path string }{
		{"admin_token_file", c.AdminTokenFile}, {"admin_password_file", c.AdminPasswordFile},
		{"secret_key_file", c.SecretKeyFile}, {"db_password_file", c.DBPasswordFile},
	} {
		if f.path == "" || (f.key == "admin_password_file" && f.path == "-") {
			continue
		}
		if _, err := ReadSecret(f.path); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.key, err))
		}
	}
	if c.Data != "" && !filepath.IsAbs(c.Data) {
		warnings = append(warnings, fmt.Sprintf("data %q is relative: it depends on the directory the server starts in", c.Data))
	}
	return warnings, errors.Join(errs...)
}

// ReadSecret reads a secret from a file, trimming trailing newlines. A file others may read
// is refused: a secret readable by every user of the machine is not one.
func ReadSecret(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	if st.Mode().Perm()&0o004 != 0 {
		return "", fmt.Errorf("%s is readable by every user (mode %v): chmod o-r %s", path, st.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return s, nil
}

// DSN returns the database DSN with the password from db_password_file, if any.
func (c *Config) DSN() (string, error) {
	if c.DBPasswordFile == "" {
		return c.DB, nil
	}
	pw, err := ReadSecret(c.DBPasswordFile)
	if err != nil {
		return "", fmt.Errorf("db_password_file: %w", err)
	}
	u, err := url.Parse(c.DB)
	if err != nil {
		return "", fmt.Errorf("db: %w", err)
	}
	user := "postgres"
	if u.User != nil {
		user = u.User.Username()
	}
	u.User = url.UserPassword(user, pw)
	return u.String(), nil
}

// Markdown is the settings table for the README: one row per setting with its file key,
// environment variable, flag, default and meaning.
func Markdown() string {
	var b strings.Builder
	b.WriteString("| sluice.toml | environment | flag | default | what |\n| --- | --- | --- | --- | --- |\n")
	for _, s := range Settings() {
		def := s.Default
		if def == "" {
			def = "—"
		} else {
			def = "`" + def + "`"
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | `--%s` | %s | %s |\n", s.Key, s.Env, s.Flag, def, strings.ReplaceAll(s.Help, "|", `\|`))
	}
	return b.String()
}
