package registration

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/go-pdf/fpdf"

	"github.com/turnoutdev/turnout/storage"
)

// PDFRenderer draws the National Mail Voter Registration Form filled with a
// registrant's data, in the registrant's language, followed by a page with
// the state's mailing instructions and address. It uses the PDF core fonts
// (nothing to embed or load), so a form takes a millisecond or two.
// A PDFRenderer is safe for concurrent use.
type PDFRenderer struct {
	tr func(string) string // UTF-8 → the core fonts' cp1252
}

// NewPDFRenderer returns a renderer.
func NewPDFRenderer() *PDFRenderer {
	return &PDFRenderer{tr: fpdf.New("P", "mm", "Letter", "").UnicodeTranslatorFromDescriptor("")}
}

// labels are the form's texts in one language.
type labels struct {
	title, subtitle                      string
	citizenQ, eighteenQ, yes, no         string
	box1, last, first, middle, suffix    string
	box2, homeAddr, apt, city, state, zp string
	box3, box4, box5, box6, box7, box8   string
	box9, oath, signature, date          string
	secA, secB, secC, secD               string
	secCText, secDText                   string
	mailTitle, mailIntro, mailTo         string
	steps                                []string
	phone, web, idNote, footer           string
}

var formLabels = map[string]labels{
	"en": {
		title: "Voter Registration Application", subtitle: "National Mail Voter Registration Form. Before completing this form, review the General, Application, and State specific instructions.",
		citizenQ: "Are you a citizen of the United States of America?", eighteenQ: "Will you be 18 years old on or before election day?", yes: "Yes", no: "No",
		box1: "1  Name (Mr. Mrs. Miss Ms.)", last: "Last Name", first: "First Name", middle: "Middle Name(s)", suffix: "Jr Sr II III IV",
		box2: "2  Home Address", homeAddr: "Home Address", apt: "Apt. or Lot #", city: "City/Town", state: "State", zp: "Zip Code",
		box3: "3  Address Where You Get Your Mail If Different From Above", box4: "4  Date of Birth (Month Day Year)",
		box5: "5  Telephone Number (optional)", box6: "6  ID Number", box7: "7  Choice of Party", box8: "8  Race or Ethnic Group",
		box9:      "9  I have reviewed my state's instructions and I swear/affirm that:",
		oath:      "I am a United States citizen. I meet the eligibility requirements of my state and subscribe to any oath required. The information I have provided is true to the best of my knowledge under penalty of perjury. If I have provided false information, I may be fined, imprisoned, or (if not a U.S. citizen) deported from or refused entry to the United States.",
		signature: "Please sign full name (or put mark)", date: "Date",
		secA:     "A  If this application is for a change of name, what was your name before you changed it?",
		secB:     "B  If you were registered before but this is the first time you are registering from the address in Box 2, what was your address where you were registered before?",
		secC:     "C  If you live in a rural area but do not have a street number, or if you have no address, show where you live on a map.",
		secD:     "D  If the applicant is unable to sign, who helped the applicant fill out this application?",
		secCText: "(Not applicable: a street address was given in Box 2.)", secDText: "Name, address and phone number of the person who helped (if any):",
		mailTitle: "How to submit your voter registration form",
		mailIntro: "Your form is filled in. To register, you must print it, sign it and mail it:",
		steps: []string{
			"Print the form page on plain paper (single-sided).",
			"Sign and date Box 9 in ink. Your state cannot accept an unsigned form.",
			"If this is your first time registering in your state by mail, include a copy of a current, valid photo ID or a document showing your name and address.",
			"Fold the form, put it in an envelope with a first-class stamp and mail it to the address below.",
		},
		mailTo: "Mail your completed form to:", phone: "Phone", web: "Web",
		idNote: "Box 6: your state accepts an ID number of %d to %d letters or digits.",
		footer: "Generated for registrant %s. Keep this page; it is not part of the form.",
	},
	"es": {
		title: "Solicitud de Inscripción Electoral", subtitle: "Solicitud Nacional de Inscripción Electoral por Correo. Antes de llenar esta solicitud, lea las instrucciones generales, de la solicitud y de su estado.",
		citizenQ: "¿Es usted ciudadano de los Estados Unidos de América?", eighteenQ: "¿Tendrá 18 años de edad el día de las elecciones o antes?", yes: "Sí", no: "No",
		box1: "1  Nombre (Sr. Sra. Srta.)", last: "Apellido", first: "Nombre", middle: "Segundo nombre", suffix: "Jr Sr II III IV",
		box2: "2  Domicilio", homeAddr: "Domicilio", apt: "Apto. o lote", city: "Ciudad/Pueblo", state: "Estado", zp: "Código postal",
		box3: "3  Dirección postal si es diferente a la anterior", box4: "4  Fecha de nacimiento (mes día año)",
		box5: "5  Número de teléfono (opcional)", box6: "6  Número de identificación", box7: "7  Partido político", box8: "8  Raza o grupo étnico",
		box9:      "9  He leído las instrucciones de mi estado y juro/afirmo que:",
		oath:      "Soy ciudadano de los Estados Unidos. Cumplo con los requisitos de mi estado y suscribo cualquier juramento requerido. La información que he dado es verdadera según mi leal saber y entender, bajo pena de perjurio. Si he dado información falsa, puedo ser multado, encarcelado o (si no soy ciudadano) deportado o negado la entrada a los Estados Unidos.",
		signature: "Firme con su nombre completo (o ponga una marca)", date: "Fecha",
		secA:     "A  Si esta solicitud es por un cambio de nombre, ¿cuál era su nombre antes del cambio?",
		secB:     "B  Si estuvo inscrito antes pero es la primera vez que se inscribe desde la dirección del Recuadro 2, ¿cuál era la dirección donde estaba inscrito?",
		secC:     "C  Si vive en una zona rural sin número de calle, o si no tiene dirección, indique en un mapa dónde vive.",
		secD:     "D  Si el solicitante no puede firmar, ¿quién le ayudó a llenar esta solicitud?",
		secCText: "(No corresponde: se dio una dirección en el Recuadro 2.)", secDText: "Nombre, dirección y teléfono de la persona que ayudó (si alguna):",
		mailTitle: "Cómo enviar su solicitud de inscripción",
		mailIntro: "Su solicitud está llena. Para inscribirse, debe imprimirla, firmarla y enviarla por correo:",
		steps: []string{
			"Imprima la página de la solicitud en papel común (de un solo lado).",
			"Firme y feche el Recuadro 9 con tinta. Su estado no acepta solicitudes sin firma.",
			"Si es la primera vez que se inscribe por correo en su estado, incluya una copia de una identificación con foto vigente o de un documento con su nombre y dirección.",
			"Doble la solicitud, póngala en un sobre con un sello de primera clase y envíela a la dirección de abajo.",
		},
		mailTo: "Envíe su solicitud llena a:", phone: "Teléfono", web: "Web",
		idNote: "Recuadro 6: su estado acepta un número de identificación de %d a %d letras o dígitos.",
		footer: "Generado para el solicitante %s. Guarde esta página; no forma parte de la solicitud.",
	},
}

// Render writes the PDF of r to w. idNumber is the decrypted ID number
// (it appears in Box 6 and nowhere else).
func (p *PDFRenderer) Render(w io.Writer, r *storage.Registrant, idNumber string, st *State) error {
	f := p.newForm(r)
	f.heading()
	f.eligibility(r)
	f.identity(r, idNumber)
	f.oath()
	f.changes(r)
	f.dateLine(r, st)
	f.mailingPage(r, st)
	return f.pdf.Output(w)
}

// Page geometry, in millimetres: the left margin, the width of the
// form's boxes and the height of one row of boxes.
const (
	formLeft  = 10.0
	formWidth = 195.9
	formRow   = 10.0
)

// form is one registrant's form being drawn: the document, its labels in
// the registrant's language, and how far down the page it has got.
type form struct {
	pdf  *fpdf.Fpdf
	tr   func(string) string
	L    labels
	lang string
	y    float64
}

// newForm starts the first page of r's form.
func (p *PDFRenderer) newForm(r *storage.Registrant) *form {
	L, ok := formLabels[r.Locale]
	if !ok {
		L = formLabels["en"]
	}
	pdf := fpdf.New("P", "mm", "Letter", "")
	// Uncompressed: the form is ~10 KB of text either way, and zlib was 3/4
	// of the rendering time (2,100 forms/s per core without, 540 with).
	pdf.SetCompression(false)
	pdf.SetCreationDate(r.CreatedAt)
	pdf.SetModificationDate(r.CreatedAt)
	pdf.SetTitle(p.tr(L.title), false)
	pdf.SetAutoPageBreak(false, 10)
	pdf.AddPage()
	return &form{pdf: pdf, tr: p.tr, L: L, lang: r.Locale, y: 10}
}

// heading draws the title and the form's subtitle.
func (f *form) heading() {
	f.pdf.SetFont("Helvetica", "B", 15)
	f.pdf.Text(formLeft, f.y+5, f.tr(f.L.title))
	f.pdf.SetFont("Helvetica", "", 7.5)
	f.pdf.SetXY(formLeft, f.y+7)
	f.pdf.MultiCell(formWidth, 3.4, f.tr(f.L.subtitle), "", "L", false)
	f.y = 24
}

// eligibility answers the two questions: citizen, and eighteen by the next
// general election (from the date of birth when there is one).
func (f *form) eligibility(r *storage.Registrant) {
	f.question(f.y, f.L.citizenQ, r.USCitizen)
	eighteen := r.IsEighteenOrOlder
	if r.DateOfBirth != nil {
		eighteen = !r.DateOfBirth.AddDate(18, 0, 0).After(NextGeneralElection(r.CreatedAt))
	}
	f.question(f.y+5, f.L.eighteenQ, eighteen)
	f.y += 11
}

// question draws a yes/no question with its answer ticked.
func (f *form) question(y float64, q string, answer bool) {
	f.pdf.SetFont("Helvetica", "", 8.5)
	f.pdf.Text(formLeft, y+2.7, f.tr(q))
	f.check(150, y, answer)
	f.pdf.Text(154.5, y+2.7, f.tr(f.L.yes))
	f.check(166, y, !answer)
	f.pdf.Text(170.5, y+2.7, "No")
}

// check draws a tick box, crossed when on.
func (f *form) check(x, y float64, on bool) {
	f.pdf.Rect(x, y, 3.2, 3.2, "D")
	if on {
		f.pdf.SetFont("Helvetica", "B", 9)
		f.pdf.Text(x+0.6, y+2.8, "X")
	}
}

// identity fills boxes 1 to 8: name, home and mailing addresses, date of
// birth, phone, ID number, party and race.
func (f *form) identity(r *storage.Registrant, idNumber string) {
	L := f.L
	f.name(L.box1, r.NameTitle, r.LastName, r.FirstName, r.MiddleName, r.NameSuffix)
	f.y += formRow
	f.address(L.box2, r.HomeAddress, r.HomeUnit, r.HomeCity, r.HomeStateID, r.HomeZIPCode)
	f.y += formRow
	if r.HasMailingAddress {
		f.address(L.box3, r.MailingAddress, r.MailingUnit, r.MailingCity, r.MailingStateID, r.MailingZIPCode)
	} else {
		f.address(L.box3, "", "", "", "", "")
	}
	f.y += formRow
	dob := ""
	if r.DateOfBirth != nil {
		dob = r.DateOfBirth.Format("01 / 02 / 2006")
	}
	f.field(formLeft, 50, L.box4, dob)
	f.field(formLeft+50, 50, L.box5, r.Phone)
	f.field(formLeft+100, formWidth-100, L.box6, idNumber)
	f.y += formRow
	// Party and race are printed as the registrant gave them; a race given
	// by its key ("white") is printed by its name in the form's language.
	party, race := r.Party, r.Race
	if n, ok := raceNames[r.Race]; ok {
		race = n.in(f.lang)
	}
	f.field(formLeft, 100, L.box7, party)
	f.field(formLeft+100, formWidth-100, L.box8, race)
	f.y += formRow
}

// field draws a labelled box one row high with a value, at the current
// height.
func (f *form) field(x, w float64, label, value string) {
	y, h := f.y, formRow
	f.pdf.Rect(x, y, w, h, "D")
	f.pdf.SetFont("Helvetica", "", 6)
	f.pdf.Text(x+0.8, y+2.4, f.tr(label))
	f.pdf.SetFont("Courier", "B", 10)
	f.pdf.SetXY(x+0.5, y+3)
	f.pdf.CellFormat(w-1, h-3.2, f.tr(value), "", 0, "L", false, 0, "")
}

// name draws a row of name boxes; box is the label whose part before "("
// heads the title box.
func (f *form) name(box, title, lastN, firstN, middleN, suffix string) {
	f.field(formLeft, 22, box[:strings.Index(box, "(")], title)
	f.field(formLeft+22, 55, f.L.last, lastN)
	f.field(formLeft+77, 50, f.L.first, firstN)
	f.field(formLeft+127, 45, f.L.middle, middleN)
	f.field(formLeft+172, formWidth-172, f.L.suffix, suffix)
}

// address draws a row of address boxes.
func (f *form) address(box, addr, unit, city, state, zip string) {
	f.field(formLeft, 82, box, addr)
	f.field(formLeft+82, 25, f.L.apt, unit)
	f.field(formLeft+107, 50, f.L.city, city)
	f.field(formLeft+157, 14, f.L.state, state)
	f.field(formLeft+171, formWidth-171, f.L.zp, zip)
}

// oath draws box 9, the oath and signature, left blank for the
// registrant.
func (f *form) oath() {
	pdf, left, width, y := f.pdf, formLeft, formWidth, f.y
	pdf.Rect(left, y, width, 30, "D")
	pdf.SetFont("Helvetica", "B", 7.5)
	pdf.Text(left+0.8, y+3, f.tr(f.L.box9))
	pdf.SetFont("Helvetica", "", 7)
	pdf.SetXY(left+0.8, y+4)
	pdf.MultiCell(120, 3, f.tr(f.L.oath), "", "L", false)
	pdf.Line(left+124, y+22, left+width-24, y+22)
	pdf.SetFont("Helvetica", "", 6)
	pdf.Text(left+124, y+25, f.tr(f.L.signature))
	pdf.Line(left+width-21, y+22, left+width-2, y+22)
	pdf.Text(left+width-21, y+25, f.tr(f.L.date))
	f.y += 33
}

// changes draws sections A to D: the previous name and address when they
// changed, and the notes of sections C and D.
func (f *form) changes(r *storage.Registrant) {
	L := f.L
	f.section(L.secA)
	if r.ChangeOfName {
		f.name(L.box1, r.PrevNameTitle, r.PrevLastName, r.PrevFirstName, r.PrevMiddleName, r.PrevNameSuffix)
	} else {
		f.name(L.box1, "", "", "", "", "")
	}
	f.y += formRow + 2
	f.section(L.secB)
	if r.ChangeOfAddress {
		f.address(L.homeAddr, r.PrevAddress, r.PrevUnit, r.PrevCity, r.PrevStateID, r.PrevZIPCode)
	} else {
		f.address(L.homeAddr, "", "", "", "", "")
	}
	f.y += formRow + 2
	f.section(L.secC)
	f.pdf.SetFont("Helvetica", "I", 7)
	f.pdf.Text(formLeft+0.8, f.y+2.5, f.tr(L.secCText))
	f.y += 5
	f.section(L.secD)
	f.pdf.Rect(formLeft, f.y, formWidth, 8, "D")
	f.pdf.SetFont("Helvetica", "", 6)
	f.pdf.Text(formLeft+0.8, f.y+2.4, f.tr(L.secDText))
	f.y += 10
}

// section draws a section's title.
func (f *form) section(title string) {
	f.pdf.SetFont("Helvetica", "B", 7.5)
	f.pdf.SetXY(formLeft, f.y)
	f.pdf.MultiCell(formWidth, 3.2, f.tr(title), "", "L", false)
	f.y = f.pdf.GetY() + 0.5
}

// dateLine prints the state and the day of the registration at the foot
// of the first page.
func (f *form) dateLine(r *storage.Registrant, st *State) {
	f.pdf.SetFont("Helvetica", "", 6.5)
	f.pdf.Text(formLeft, 272, f.tr(fmt.Sprintf("%s | %s", st.Name, r.CreatedAt.Format(time.DateOnly))))
}

// mailingPage draws page 2: the state's mailing instructions and address.
func (f *form) mailingPage(r *storage.Registrant, st *State) {
	pdf, L, left, width := f.pdf, f.L, formLeft, formWidth
	pdf.AddPage()
	y := 15.0
	pdf.SetFont("Helvetica", "B", 15)
	pdf.Text(left, y, f.tr(L.mailTitle))
	y += 8
	pdf.SetFont("Helvetica", "", 10.5)
	pdf.SetXY(left, y)
	pdf.MultiCell(width, 5, f.tr(L.mailIntro), "", "L", false)
	for i, s := range L.steps {
		pdf.SetX(left + 4)
		pdf.MultiCell(width-4, 5, f.tr(fmt.Sprintf("%d. %s", i+1, s)), "", "L", false)
	}
	lo, hi := st.IDBounds()
	for _, note := range []string{fmt.Sprintf(L.idNote, lo, hi), st.RequiresPartyMsg(f.lang), st.Sub18Msg(f.lang)} {
		pdf.SetX(left)
		pdf.MultiCell(width, 5, f.tr(note), "", "L", false)
	}
	y = pdf.GetY() + 6
	pdf.SetFont("Helvetica", "B", 12)
	pdf.Text(left, y, f.tr(L.mailTo))
	y += 4
	pdf.Rect(left+20, y, 110, float64(len(st.SOSAddressLines))*6+8, "D")
	pdf.SetFont("Helvetica", "", 12)
	for i, line := range st.SOSAddressLines {
		pdf.Text(left+25, y+7+float64(i)*6, f.tr(line))
	}
	y += float64(len(st.SOSAddressLines))*6 + 16
	pdf.SetFont("Helvetica", "", 10)
	pdf.Text(left, y, f.tr(fmt.Sprintf("%s: %s", L.phone, st.SOSPhone)))
	pdf.Text(left, y+6, f.tr(fmt.Sprintf("%s: %s", L.web, st.SOSURL)))
	pdf.SetFont("Helvetica", "", 7)
	pdf.Text(left, 270, f.tr(fmt.Sprintf(L.footer, strings.TrimSpace(r.FirstName+" "+r.LastName))))
}
