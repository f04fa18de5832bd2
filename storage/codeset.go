package storage

import "context"

// CodeSet is a code list as a loader checks a column against it: every
// value, active or not, so a loader can tell "deactivated" from
// "unknown". It is read once per load.
type CodeSet struct {
	Type   string
	byCode map[string]TargetValue
}

// CodeSet reads the code list named typeName.
func (s *Store) CodeSet(ctx context.Context, typeName string) (*CodeSet, error) {
	t, err := s.TargetTypeByName(ctx, typeName)
	if err != nil {
		return nil, err
	}
	vals, err := s.TargetValues(ctx, t.ID, true)
	if err != nil {
		return nil, err
	}
	c := &CodeSet{Type: typeName, byCode: make(map[string]TargetValue, len(vals))}
	for _, v := range vals {
		c.byCode[v.Code] = v
	}
	return c, nil
}

// Lookup returns the value with code (compared exactly) and whether the
// list has it.
func (c *CodeSet) Lookup(code string) (TargetValue, bool) {
	v, ok := c.byCode[code]
	return v, ok
}
