package store

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// Times are stored as Unix nanoseconds; these helpers convert at the boundary.

func ts(t time.Time) int64 { return t.UnixNano() }

func tsPtr(t *time.Time) sql.NullInt64 {
	if t == nil || t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixNano(), Valid: true}
}

func fromTS(n int64) time.Time { return time.Unix(0, n).UTC() }

// optTS is fromTS for an optional time stored as 0 when absent (SELECT COALESCE(col, 0)): the
// zero time.Time then, without the allocation of a pointer.
func optTS(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return fromTS(n)
}

func fromNullTS(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromTS(n.Int64)
	return &t
}

func nullID(id *int64) sql.NullInt64 {
	if id == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: *id, Valid: true}
}

// nonZero is nil for 0, for optional IDs held as plain int64.
func nonZero(id int64) *int64 {
	if id == 0 {
		return nil
	}
	return &id
}

func fromNullID(n sql.NullInt64) *int64 {
	if !n.Valid {
		return nil
	}
	v := n.Int64
	return &v
}

func nullRaw(m json.RawMessage) sql.NullString {
	if len(m) == 0 {
		return sql.NullString{}
	}
	return sql.NullString{String: string(m), Valid: true}
}

func fromNullRaw(s sql.NullString) json.RawMessage {
	if !s.Valid {
		return nil
	}
	return json.RawMessage(s.String)
}

// jsonText encodes v for a TEXT column; nil slices and maps are stored as empty ones.
func jsonText(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("encoding %T: %w", v, err)
	}
	switch string(b) {
	case "null":
		switch v.(type) {
		case []string:
			return "[]", nil
		default:
			return "{}", nil
		}
	}
	return string(b), nil
}

func fromJSONText(s string, v any) error {
	if s == "" {
		return nil
	}
	if err := json.Unmarshal([]byte(s), v); err != nil {
		return fmt.Errorf("decoding %T: %w", v, err)
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// scanner is *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }
