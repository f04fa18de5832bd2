// Package openapi holds the contract of every HTTP endpoint Turnout serves,
// as one OpenAPI 3 document. The API serves it at /openapi.yaml and renders
// the reference page from it; the tests check every answer they receive
// against it.
package openapi

import _ "embed"

// Spec is the OpenAPI document, as YAML.
//
//go:embed openapi.yaml
var Spec []byte
