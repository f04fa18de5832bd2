package targets

import (
	"encoding/json"
	"testing"

	"github.com/turnoutdev/turnout/storage"
)

// Target types and values keep Adhese's field names, and the type a value
// belongs to (implied by the path) is not repeated in it.
func TestTypesAndValuesInAdhesesFieldNames(t *testing.T) {
	cases := []struct {
		v    any
		want string
	}{
		{targetTypeOf(storage.TargetType{ID: 1, Name: "gender", Editable: true}), `{"id":1,"name":"gender","editable":true}`},
		{targetValueOf(storage.TargetValue{ID: 9, TypeID: 1, Name: "Female", Code: "F", Active: true}),
			`{"id":9,"name":"Female","code":"F","active":true}`},
	}
	for _, tc := range cases {
		if b, _ := json.Marshal(tc.v); string(b) != tc.want {
			t.Errorf("got %s, want %s", b, tc.want)
		}
	}
}
