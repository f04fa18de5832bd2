package ops

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/labstack/echo/v4"
)

//go:embed landing.html
var landingHTML []byte

// Landing answers / with a small page linking the status page, the job
// dashboard, the OpenAPI document and the API reference.
func Landing(c echo.Context) error {
	return c.HTMLBlob(http.StatusOK, landingHTML)
}

//go:embed reference.html
var referenceHTML string

var referenceTmpl = template.Must(template.New("reference").Parse(referenceHTML))

// Reference renders the OpenAPI document spec as one HTML page, once, at
// start-up: every path and method with its parameters and answers, and
// every schema with its properties. It is plain server-side HTML with no
// scripts or outside assets, so it works where the service has no
// internet access. An invalid document is an error, not an empty page.
func Reference(spec []byte) (echo.HandlerFunc, error) {
	doc, err := openapi3.NewLoader().LoadFromData(spec)
	if err != nil {
		return nil, fmt.Errorf("load the OpenAPI document: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("validate the OpenAPI document: %w", err)
	}
	var page bytes.Buffer
	if err := referenceTmpl.Execute(&page, referenceOf(doc)); err != nil {
		return nil, fmt.Errorf("render the API reference: %w", err)
	}
	body := page.Bytes()
	return func(c echo.Context) error { return c.HTMLBlob(http.StatusOK, body) }, nil
}

type refPage struct {
	Title, Version, Description string
	Tags                        []refTag
	Schemas                     []refSchema
	Extensions                  []refSurface
}

type refTag struct {
	Name, Description string
	Operations        []refOperation
}

type refOperation struct {
	Anchor, Method, Path, Summary, Description string
	Parameters                                 []refParam
	Body                                       string
	Responses                                  []refResponse
}

type refParam struct{ Name, In, Type, Description string }

type refResponse struct {
	Status, Description, Schema string
	// Headers names the documented response headers; Example is a media
	// type's example when it is text (an event stream, a CSV file).
	Headers []string
	Example string
}

type refSchema struct {
	Name, Description string
	Properties        []refParam
}

type refSurface struct{ Prefix, NotFound, MethodNotAllowed string }

// methodOrder is the order a path's operations are listed in.
var methodOrder = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

func referenceOf(doc *openapi3.T) refPage {
	p := refPage{Title: doc.Info.Title, Version: doc.Info.Version, Description: doc.Info.Description}
	tags := map[string]*refTag{}
	var order []string
	addTag := func(name, desc string) *refTag {
		if t, ok := tags[name]; ok {
			return t
		}
		tags[name] = &refTag{Name: name, Description: desc}
		order = append(order, name)
		return tags[name]
	}
	for _, t := range doc.Tags {
		addTag(t.Name, t.Description)
	}
	for _, path := range doc.Paths.InMatchingOrder() {
		item := doc.Paths.Value(path)
		ops := item.Operations()
		for _, m := range methodOrder {
			op := ops[m]
			if op == nil {
				continue
			}
			tag := "other"
			if len(op.Tags) > 0 {
				tag = op.Tags[0]
			}
			t := addTag(tag, "")
			t.Operations = append(t.Operations, operationOf(m, path, item, op))
		}
	}
	for _, name := range order {
		t := tags[name]
		slices.SortFunc(t.Operations, func(a, b refOperation) int { return strings.Compare(a.Path+a.Method, b.Path+b.Method) })
		p.Tags = append(p.Tags, *t)
	}
	for _, name := range sortedKeys(doc.Components.Schemas) {
		p.Schemas = append(p.Schemas, schemaOf(name, doc.Components.Schemas[name]))
	}
	p.Extensions = surfacesOf(doc)
	return p
}

func operationOf(method, path string, item *openapi3.PathItem, op *openapi3.Operation) refOperation {
	o := refOperation{Anchor: strings.ToLower(method) + "-" + anchor(path), Method: method, Path: path,
		Summary: op.Summary, Description: op.Description}
	for _, ps := range [][]*openapi3.ParameterRef{item.Parameters, op.Parameters} {
		for _, pr := range ps {
			if pr == nil || pr.Value == nil {
				continue
			}
			o.Parameters = append(o.Parameters, refParam{Name: pr.Value.Name, In: pr.Value.In,
				Type: schemaName(pr.Value.Schema), Description: pr.Value.Description})
		}
	}
	if op.RequestBody != nil && op.RequestBody.Value != nil {
		o.Body = contentOf(op.RequestBody.Value.Content)
	}
	if op.Responses != nil {
		for _, status := range sortedKeys(op.Responses.Map()) {
			r := op.Responses.Value(status)
			if r == nil || r.Value == nil {
				continue
			}
			desc := ""
			if r.Value.Description != nil {
				desc = *r.Value.Description
			}
			o.Responses = append(o.Responses, refResponse{Status: status, Description: desc, Schema: contentOf(r.Value.Content),
				Headers: sortedKeys(r.Value.Headers), Example: textExample(r.Value.Content)})
		}
	}
	return o
}

// textExample returns the first example of c that is a string.
func textExample(c openapi3.Content) string {
	for _, mt := range sortedKeys(c) {
		if ex, ok := c[mt].Example.(string); ok {
			return ex
		}
	}
	return ""
}

// contentOf names each media type and its schema: "application/json: VanErrors".
func contentOf(c openapi3.Content) string {
	var parts []string
	for _, mt := range sortedKeys(c) {
		parts = append(parts, mt+": "+schemaName(c[mt].Schema))
	}
	return strings.Join(parts, "; ")
}

func schemaName(s *openapi3.SchemaRef) string {
	if s == nil {
		return ""
	}
	if s.Ref != "" {
		return s.Ref[strings.LastIndex(s.Ref, "/")+1:]
	}
	if s.Value == nil {
		return ""
	}
	v := s.Value
	switch {
	case v.Type.Is("array"):
		return "array of " + schemaName(v.Items)
	case len(v.OneOf) > 0:
		var alts []string
		for _, a := range v.OneOf {
			alts = append(alts, schemaName(a))
		}
		return "one of " + strings.Join(alts, ", ")
	case len(v.Enum) > 0:
		return fmt.Sprintf("%s %v", typeOf(v), v.Enum)
	}
	return typeOf(v)
}

func typeOf(v *openapi3.Schema) string {
	if v.Type == nil || len(*v.Type) == 0 {
		return "any"
	}
	return strings.Join(*v.Type, " or ")
}

func schemaOf(name string, s *openapi3.SchemaRef) refSchema {
	out := refSchema{Name: name}
	if s == nil || s.Value == nil {
		return out
	}
	out.Description = s.Value.Description
	for _, prop := range sortedKeys(s.Value.Properties) {
		ps := s.Value.Properties[prop]
		desc := ""
		if ps.Value != nil {
			desc = ps.Value.Description
		}
		if slices.Contains(s.Value.Required, prop) {
			desc = strings.TrimSpace("(required) " + desc)
		}
		out.Properties = append(out.Properties, refParam{Name: prop, Type: schemaName(ps), Description: desc})
	}
	return out
}

// surfacesOf reads x-surfaces: the prefixes each surface owns and the
// response components of their 404 and 405.
func surfacesOf(doc *openapi3.T) []refSurface {
	raw, _ := doc.Extensions["x-surfaces"].([]any)
	var out []refSurface
	for _, r := range raw {
		m, _ := r.(map[string]any)
		s := refSurface{}
		s.Prefix, _ = m["prefix"].(string)
		s.NotFound, _ = m["notFound"].(string)
		s.MethodNotAllowed, _ = m["methodNotAllowed"].(string)
		out = append(out, s)
	}
	return out
}

func anchor(path string) string {
	return strings.NewReplacer("/", "-", "{", "", "}", "", ".", "-").Replace(strings.Trim(path, "/"))
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
