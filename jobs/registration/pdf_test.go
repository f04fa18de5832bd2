package registration

import (
	"bytes"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/turnoutdev/turnout/storage"
)

func sampleRegistrant(t testing.TB, lang string) (*storage.Registrant, *State) {
	v := testValidator(t)
	m := validFields(t, "CA")
	m["lang"] = lang
	m["first_name"] = "José"
	m["has_mailing_address"] = true
	m["mailing_address"], m["mailing_city"], m["mailing_state_id"], m["mailing_zip_code"] = "PO Box 77", "Oakland", "CA", "94601"
	out, err := v.Validate(toInput(t, m), ModeRegistration)
	if err != nil {
		t.Fatal(err)
	}
	out.Registrant.UID = storage.NewRegistrantUID()
	out.Registrant.CreatedAt = time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)
	return out.Registrant, out.State
}

// PDFText returns the text of a PDF as pdftotext (Debian poppler-utils)
// extracts it; scripts/services.sh installs it.
func PDFText(t testing.TB, pdf []byte) string {
	t.Helper()
	if _, err := exec.LookPath("pdftotext"); err != nil {
		t.Fatal("pdftotext not found: install poppler-utils (scripts/services.sh does)")
	}
	cmd := exec.Command("pdftotext", "-layout", "-", "-")
	cmd.Stdin = bytes.NewReader(pdf)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	return string(out)
}

func TestPDFShowsTheRegistrantAndTheStateAddress(t *testing.T) {
	p := NewPDFRenderer()
	for _, c := range []struct{ lang, title, mailTo string }{
		{"en", "Voter Registration Application", "Mail your completed form to:"},
		{"es", "Solicitud de Inscripción Electoral", "Envíe su solicitud llena a:"},
	} {
		r, st := sampleRegistrant(t, c.lang)
		var buf bytes.Buffer
		if err := p.Render(&buf, r, "D1234567", st); err != nil {
			t.Fatal(err)
		}
		text := PDFText(t, buf.Bytes())
		for _, want := range append([]string{c.title, c.mailTo, "José", "Lovelace", "12 Main St", "Springfield",
			r.HomeZIPCode, "PO Box 77", "Oakland", "D1234567", "05 / 17 / 1990"}, st.SOSAddressLines...) {
			if !strings.Contains(text, want) {
				t.Errorf("%s PDF lacks %q; text:\n%s", c.lang, want, text)
			}
		}
	}
}

// BenchmarkRenderPDF measures forms per second on one core.
func BenchmarkRenderPDF(b *testing.B) {
	p := NewPDFRenderer()
	r, st := sampleRegistrant(b, "en")
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Render(io.Discard, r, "D1234567", st); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pdfs/s")
}
