package eventlog

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// AccessLogOptions configure the "access-log" format.
type AccessLogOptions struct {
	// Patterns name the product in request URLs, tried in order; the first
	// that matches makes the request an event. Each is
	// [EVENT=][METHOD ]PATH[?QUERY], for example "/p/{item}",
	// "view=/product/{item}/*" or "add_to_cart=POST /cart/add?sku={item}";
	// see the package documentation. EVENT defaults to "view" and must be
	// a type in Options.Weights.
	Patterns []string
	// UserCookie is the cookie naming the visitor, looked for in the
	// fields logged after the user agent (such as nginx's "$http_cookie").
	// Empty: no cookie is read.
	UserCookie string
	// UserFallback says where the visitor comes from when the cookie is
	// absent, in order: "remote_user" (the authenticated user field) and
	// "ip" (the client address, as "ip:ADDRESS"). Empty: a request without
	// the cookie is dropped.
	UserFallback []string
	// BotAgents are substrings (compared without case) of user agents whose
	// requests are dropped; a request without a user agent is dropped too.
	BotAgents []string
}

// DefaultBotAgents returns the user-agent substrings of crawlers, monitors
// and scripted clients that DefaultAccessLogOptions drops.
func DefaultBotAgents() []string {
	return []string{
		"bot", "crawler", "spider", "slurp", "crawl", "archiver", "facebookexternalhit",
		"curl", "wget", "python-requests", "python-urllib", "aiohttp", "httpx", "go-http-client",
		"java/", "okhttp", "libwww-perl", "apache-httpclient", "scrapy", "headlesschrome",
		"phantomjs", "lighthouse", "pingdom", "monitor",
	}
}

// DefaultAccessLogOptions returns no patterns (a shop names its own), no
// cookie, the fallback remote_user then ip, and DefaultBotAgents.
func DefaultAccessLogOptions() AccessLogOptions {
	return AccessLogOptions{
		UserFallback: []string{"remote_user", "ip"},
		BotAgents:    DefaultBotAgents(),
	}
}

// Validate reports whether o can read access logs, whose event types
// must be keys of weights.
func (o AccessLogOptions) Validate() error {
	return o.validate(nil)
}

func (o AccessLogOptions) validate(weights map[string]float32) error {
	var errs []error
	if len(o.Patterns) == 0 {
		errs = append(errs, errors.New("the access-log format needs at least one item pattern"))
	}
	for _, spec := range o.Patterns {
		p, err := compilePattern(spec)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if weights != nil {
			if _, ok := weights[p.event]; !ok {
				errs = append(errs, fmt.Errorf("item pattern %q: event type %q has no weight", spec, p.event))
			}
		}
	}
	for _, f := range o.UserFallback {
		if f != "remote_user" && f != "ip" {
			errs = append(errs, fmt.Errorf("user fallback %q, want remote_user or ip", f))
		}
	}
	if o.UserCookie == "" && len(o.UserFallback) == 0 {
		errs = append(errs, errors.New("no user cookie and no user fallback: no request would have a user"))
	}
	if strings.ContainsAny(o.UserCookie, "=; \t") {
		errs = append(errs, fmt.Errorf("user cookie name %q has a separator in it", o.UserCookie))
	}
	for _, b := range o.BotAgents {
		if strings.TrimSpace(b) == "" {
			errs = append(errs, errors.New("empty bot user agent"))
		}
	}
	return errors.Join(errs...)
}

// A urlPattern is a compiled item pattern.
type urlPattern struct {
	spec     string
	event    string
	method   string       // empty: any
	anyPath  bool         // the pattern has no path
	segments []segPattern // the path split at '/'
	query    []queryPattern
}

// A segPattern matches a path segment or a query value: prefix, then at
// most one wildcard, then suffix.
type segPattern struct {
	prefix, suffix string
	wild           wildcard
}

type wildcard uint8

const (
	wildNone wildcard = iota
	wildStar          // *: any text, possibly empty
	wildItem          // {item}: the product id, not empty
)

type queryPattern struct {
	key   string
	value segPattern
}

// compilePattern parses [EVENT=][METHOD ]PATH[?QUERY].
func compilePattern(spec string) (*urlPattern, error) {
	p := &urlPattern{spec: spec, event: "view"}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("item pattern %q: %s", spec, fmt.Sprintf(format, args...))
	}
	s := strings.TrimSpace(spec)
	if eq := strings.IndexByte(s, '='); eq > 0 && !strings.ContainsAny(s[:eq], "/? ") {
		p.event, s = s[:eq], strings.TrimSpace(s[eq+1:])
	}
	if sp := strings.IndexByte(s, ' '); sp > 0 {
		p.method, s = s[:sp], strings.TrimSpace(s[sp+1:])
		if strings.ToUpper(p.method) != p.method || strings.ContainsAny(p.method, "/?") {
			return nil, fail("method %q, want an upper-case HTTP method", p.method)
		}
	}
	path, query, hasQuery := strings.Cut(s, "?")
	switch {
	case path == "" && !hasQuery:
		return nil, fail("no path and no query")
	case path == "":
		p.anyPath = true
	case path[0] != '/':
		return nil, fail("the path must start with /")
	default:
		for _, seg := range strings.Split(path[1:], "/") {
			sp, err := compileSegment(seg)
			if err != nil {
				return nil, fail("path segment %q: %v", seg, err)
			}
			p.segments = append(p.segments, sp)
		}
	}
	if hasQuery {
		for _, kv := range strings.Split(query, "&") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" || strings.ContainsAny(k, "*{}") {
				return nil, fail("query part %q, want KEY=VALUE", kv)
			}
			vp, err := compileSegment(v)
			if err != nil {
				return nil, fail("query value %q: %v", v, err)
			}
			p.query = append(p.query, queryPattern{key: k, value: vp})
		}
	}
	items := 0
	for _, sp := range p.segments {
		if sp.wild == wildItem {
			items++
		}
	}
	for _, q := range p.query {
		if q.value.wild == wildItem {
			items++
		}
	}
	if items != 1 {
		return nil, fail("%d {item} placeholders, want exactly one", items)
	}
	return p, nil
}

func compileSegment(s string) (segPattern, error) {
	var sp segPattern
	k := strings.IndexAny(s, "*{")
	if k < 0 {
		if strings.Contains(s, "}") {
			return sp, errors.New("} without {item")
		}
		sp.prefix = s
		return sp, nil
	}
	sp.prefix, s = s[:k], s[k:]
	if strings.HasPrefix(s, "*") {
		sp.wild, s = wildStar, s[1:]
	} else if strings.HasPrefix(s, "{item}") {
		sp.wild, s = wildItem, s[len("{item}"):]
	} else {
		return sp, errors.New("a placeholder other than {item}")
	}
	if strings.ContainsAny(s, "*{}") {
		return sp, errors.New("more than one wildcard")
	}
	sp.suffix = s
	return sp, nil
}

// match returns the text the wildcard of sp matched in s.
func (sp *segPattern) match(s string) (string, bool) {
	if sp.wild == wildNone {
		return "", s == sp.prefix
	}
	n := len(sp.prefix) + len(sp.suffix)
	if sp.wild == wildItem {
		n++
	}
	if len(s) < n || !strings.HasPrefix(s, sp.prefix) || !strings.HasSuffix(s, sp.suffix) {
		return "", false
	}
	return s[len(sp.prefix) : len(s)-len(sp.suffix)], true
}

// match reports whether a request matches p and returns its item, still
// percent-encoded.
func (p *urlPattern) match(method, path, rawQuery string) (string, bool) {
	if p.method != "" && p.method != method {
		return "", false
	}
	item := ""
	if !p.anyPath {
		if len(path) == 0 || path[0] != '/' {
			return "", false
		}
		rest := path[1:]
		for k := range p.segments {
			seg := rest
			if k < len(p.segments)-1 {
				slash := strings.IndexByte(rest, '/')
				if slash < 0 {
					return "", false
				}
				seg, rest = rest[:slash], rest[slash+1:]
			} else if strings.IndexByte(rest, '/') >= 0 {
				return "", false
			}
			v, ok := p.segments[k].match(seg)
			if !ok {
				return "", false
			}
			if p.segments[k].wild == wildItem {
				item = v
			}
		}
	}
	for k := range p.query {
		q := &p.query[k]
		found := false
		for kv := range strings.SplitSeq(rawQuery, "&") {
			key, val, _ := strings.Cut(kv, "=")
			if key != q.key {
				continue
			}
			v, ok := q.value.match(val)
			if !ok {
				continue
			}
			if q.value.wild == wildItem {
				// A '+' in a query value is a space.
				item = strings.ReplaceAll(v, "+", " ")
			}
			found = true
			break
		}
		if !found {
			return "", false
		}
	}
	return item, true
}

// accessLog is the compiled AccessLogOptions.
type accessLog struct {
	patterns []*urlPattern
	bots     []string // lower case
}

func newAccessLog(o AccessLogOptions) *accessLog {
	a := &accessLog{}
	for _, spec := range o.Patterns {
		p, err := compilePattern(spec)
		if err != nil {
			panic(err) // Validate compiled them all
		}
		a.patterns = append(a.patterns, p)
	}
	for _, b := range o.BotAgents {
		a.bots = append(a.bots, strings.ToLower(strings.TrimSpace(b)))
	}
	return a
}

// isBot reports whether a user agent is a bot's.
func (a *accessLog) isBot(agent string) bool {
	if agent == "" || agent == "-" {
		return true
	}
	lower := strings.ToLower(agent)
	for _, b := range a.bots {
		if strings.Contains(lower, b) {
			return true
		}
	}
	return false
}

// The fields of the combined log format.
const (
	fAddr = iota
	fIdent
	fUser
	fTime
	fRequest
	fStatus
	fBytes
	fReferer
	fAgent
	fExtra // the first field after the combined format, such as $http_cookie
)

const accessTimeLayout = "02/Jan/2006:15:04:05 -0700"

// readAccessLog reads the nginx/Apache combined log format.
func (r *reader) readAccessLog(ctx context.Context, name string, br *bufio.Reader) error {
	s := &r.stats
	o := &r.opts.AccessLog
	var fields []string
	return r.eachLine(ctx, name, br, func(b []byte, line int, long bool) error {
		if !long && len(strings.TrimSpace(string(b))) == 0 {
			return nil
		}
		s.Lines++
		if long {
			r.bad(name, line, fmt.Sprintf("line longer than %d bytes", maxLine))
			return nil
		}
		var reason string
		fields, reason = splitAccessLine(fields[:0], string(b))
		if reason != "" {
			r.bad(name, line, reason)
			return nil
		}
		if len(fields) < fExtra {
			r.bad(name, line, fmt.Sprintf("%d fields, want at least %d as in the combined log format", len(fields), fExtra))
			return nil
		}
		status, err := strconv.Atoi(fields[fStatus])
		if err != nil || status < 100 || status > 999 {
			r.bad(name, line, fmt.Sprintf("status %s is not an HTTP status", quote(fields[fStatus])))
			return nil
		}
		if status < 200 || status > 299 {
			s.Dropped.Status++
			return nil
		}
		t, err := time.Parse(accessTimeLayout, fields[fTime])
		if err != nil {
			r.bad(name, line, fmt.Sprintf("time %s is not like 10/Oct/2026:13:55:36 +0200", quote(fields[fTime])))
			return nil
		}
		t = t.UTC()
		if r.access.isBot(fields[fAgent]) {
			s.Dropped.Bots++
			return nil
		}
		method, target, ok := parseRequest(fields[fRequest])
		if !ok {
			r.bad(name, line, fmt.Sprintf("request %s is not METHOD TARGET PROTOCOL", quote(fields[fRequest])))
			return nil
		}
		path, rawQuery, _ := strings.Cut(target, "?")
		path, _, _ = strings.Cut(path, "#")
		rawQuery, _, _ = strings.Cut(rawQuery, "#")
		var p *urlPattern
		var rawItem string
		for _, q := range r.access.patterns {
			if v, ok := q.match(method, path, rawQuery); ok {
				p, rawItem = q, v
				break
			}
		}
		if p == nil {
			s.Dropped.NoItem++
			return nil
		}
		item, err := url.PathUnescape(rawItem)
		item = strings.TrimSpace(item)
		if err != nil || item == "" {
			r.bad(name, line, fmt.Sprintf("item %s in %s is not a percent-encoded id", quote(rawItem), quote(target)))
			return nil
		}
		user := accessUser(o, fields)
		if user == "" {
			s.Dropped.NoUser++
			return nil
		}
		w := r.opts.Weights[p.event]
		if err := r.emit(name, line, Event{Time: t, User: user, Item: item, Type: p.event, Weight: w}); err != nil {
			return err
		}
		return nil
	})
}

// accessUser returns the visitor of a request, or "" if there is none.
func accessUser(o *AccessLogOptions, fields []string) string {
	if o.UserCookie != "" {
		for _, f := range fields[fExtra:] {
			if v := cookieValue(f, o.UserCookie); v != "" {
				return v
			}
		}
	}
	for _, fb := range o.UserFallback {
		switch fb {
		case "remote_user":
			if u := fields[fUser]; u != "-" && u != "" {
				return u
			}
		case "ip":
			if a := fields[fAddr]; a != "-" && a != "" {
				return "ip:" + a
			}
		}
	}
	return ""
}

// cookieValue returns the value of the cookie name in a Cookie header,
// without surrounding quotes, or "".
func cookieValue(header, name string) string {
	for part := range strings.SplitSeq(header, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || k != name {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		if v == "-" {
			return ""
		}
		return v
	}
	return ""
}

// parseRequest splits "GET /p/1?x=y HTTP/1.1" and reduces an absolute
// target (a proxy request) to its path and query.
func parseRequest(req string) (method, target string, ok bool) {
	parts := strings.Fields(req)
	if len(parts) < 2 || len(parts) > 3 {
		return "", "", false
	}
	method, target = parts[0], parts[1]
	if strings.HasPrefix(target, "http://") || strings.HasPrefix(target, "https://") {
		rest := target[strings.Index(target, "//")+2:]
		k := strings.IndexAny(rest, "/?")
		if k < 0 {
			return method, "/", true
		}
		target = rest[k:]
		if target[0] == '?' {
			target = "/" + target
		}
	}
	return method, target, target != "" && (target[0] == '/')
}

// splitAccessLine splits a log line into fields: runs of non-space text,
// "quoted text" (a backslash escapes the next byte, as Apache writes \" and
// nginx \x22) or [bracketed text]. Quotes and brackets are removed; escapes
// are kept as written.
func splitAccessLine(dst []string, line string) ([]string, string) {
	i := 0
	for {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		if i == len(line) {
			return dst, ""
		}
		switch line[i] {
		case '"':
			j := i + 1
			for j < len(line) && line[j] != '"' {
				if line[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(line) {
				return dst, fmt.Sprintf("unterminated quote in field %d", len(dst)+1)
			}
			dst = append(dst, line[i+1:j])
			i = j + 1
		case '[':
			j := strings.IndexByte(line[i:], ']')
			if j < 0 {
				return dst, fmt.Sprintf("unterminated [ in field %d", len(dst)+1)
			}
			dst = append(dst, line[i+1:i+j])
			i += j + 1
		default:
			j := i
			for j < len(line) && line[j] != ' ' && line[j] != '\t' {
				j++
			}
			dst = append(dst, line[i:j])
			i = j
		}
		if i < len(line) && line[i] != ' ' && line[i] != '\t' {
			return dst, fmt.Sprintf("no space after field %d", len(dst))
		}
	}
}
