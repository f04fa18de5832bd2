package registration

import (
	"fmt"
	"strings"
)

// Languages are the locales every message, form and e-mail exists in.
var Languages = []string{"en", "es"}

// SupportedLanguage reports whether lang is one of Languages.
func SupportedLanguage(lang string) bool { return lang == "en" || lang == "es" }

// NormalizeLanguage maps a locale tag to the language it names: case is
// ignored and a region or script ("en-US", "es_MX", "es-419") is dropped,
// as a browser's Accept-Language value is what many clients send.
func NormalizeLanguage(tag string) string {
	tag = strings.ToLower(strings.TrimSpace(tag))
	if i := strings.IndexAny(tag, "-_"); i > 0 {
		tag = tag[:i]
	}
	return tag
}

// UnsupportedLanguage is Rocky's message for a language it has no
// translation for, word for word (clients compare it).
const UnsupportedLanguage = "Unsupported language"

// msg is one message in every language.
type msg struct{ en, es string }

func (m msg) in(lang string) string {
	if lang == "es" {
		return m.es
	}
	return m.en
}

// Field rule messages, in Rocky's terse style (they are shown next to the
// field in the caller's UI).
var (
	msgRequired         = msg{"Required", "Obligatorio"}
	msgBoolean          = msg{"Must be true or false", "Debe ser true o false"}
	msgDate             = msg{"Must be a date in mm-dd-yyyy format", "Debe ser una fecha con formato mm-dd-aaaa"}
	msgDateFuture       = msg{"Must not be in the future", "No puede ser una fecha futura"}
	msgEmail            = msg{"Invalid email address", "Correo electrónico no válido"}
	msgEmailBlocked     = msg{"This email address is not accepted; please use another one", "No se acepta esta dirección de correo electrónico; use otra"}
	msgZIP              = msg{"Must be a 5 digit ZIP code", "Debe ser un código postal de 5 dígitos"}
	msgZIPState         = msg{"ZIP code does not match state", "El código postal no corresponde al estado"}
	msgState            = msg{"Invalid state", "Estado no válido"}
	msgIDChars          = msg{"Must be \"none\", the last 4 digits of your Social Security number, or 7 to 42 letters, digits, dashes, asterisks or spaces", "Debe ser \"none\", los últimos 4 dígitos de su número de Seguro Social, o de 7 a 42 letras, dígitos, guiones, asteriscos o espacios"}
	msgText             = msg{"Must be text without NUL characters, in UTF-8", "Debe ser texto sin caracteres NUL, en UTF-8"}
	msgTooLong          = msg{"Must be at most %d characters long", "Debe tener como máximo %d caracteres"}
	msgRace             = msg{"Invalid race", "Raza no válida"}
	msgRaceRequired     = msg{"Required: this state asks for race or ethnic group", "Obligatorio: este estado pide la raza o el grupo étnico"}
	msgPhone            = msg{"Must be a 10 digit phone number", "Debe ser un número de teléfono de 10 dígitos"}
	msgCitizen          = msg{"You must be a U.S. citizen to register to vote", "Debe ser ciudadano de los EE. UU. para inscribirse para votar"}
	msgURL              = msg{"Must be an http or https URL", "Debe ser una URL http o https"}
	msgPartner          = msg{"Invalid partner ID", "ID de socio no válido"}
	msgNumber           = msg{"Must be a whole number", "Debe ser un número entero"}
	msgDigits           = msg{"Must be a series of digits", "Debe ser una serie de dígitos"}
	msgOneOf            = msg{"Must be one of: %s", "Debe ser uno de: %s"}
	msgNotInState       = msg{"%s does not accept the national mail-in voter registration form from this service; contact the state's election office", "%s no acepta el formulario nacional de inscripción por correo de este servicio; comuníquese con la oficina electoral del estado"}
	msgSurvey           = msg{"Question %d required when Answer %d provided", "Se requiere la Pregunta %d cuando se da la Respuesta %d"}
	msgNoStateOrZIP     = msg{"home_state_id or home_zip_code is required", "Se requiere home_state_id o home_zip_code"}
	msgInvalidStateID   = msg{"Invalid state ID", "ID de estado no válido"}
	msgInvalidZIP       = msg{"Invalid ZIP code", "Código postal no válido"}
	msgZIPNotInState    = msg{"ZIP code does not match state", "El código postal no corresponde al estado"}
	msgUnsupportedState = msg{"Unsupported state", "Estado no admitido"}
)

// NameTitles, NameSuffixes and PhoneTypes are Rocky's API v4 enumerations
// (English and Spanish forms are both accepted).
var (
	NameTitles   = []string{"Mr.", "Mrs.", "Miss", "Ms.", "Sr.", "Sra.", "Srta."}
	NameSuffixes = []string{"Jr.", "Sr.", "II", "III", "IV"}
	PhoneTypes   = []string{"Mobile", "Home", "Work", "Other", "Movil", "Casa", "Trabajo", "Otro"}
)

// raceKeys are the race / ethnic group choices of the federal form, with
// their names in each language; either name or the key is accepted.
var raceKeys = []string{"american_indian", "asian", "black", "hispanic", "multi_racial", "white", "other", "decline"}

var raceNames = map[string]msg{
	"american_indian": {"American Indian / Alaskan Native", "Indio Americano / Nativo de Alaska"},
	"asian":           {"Asian / Pacific Islander", "Asiático / Isleño del Pacífico"},
	"black":           {"Black (not Hispanic)", "Negro (no hispano)"},
	"hispanic":        {"Hispanic", "Hispano"},
	"multi_racial":    {"Multi-racial", "Multirracial"},
	"white":           {"White (not Hispanic)", "Blanco (no hispano)"},
	"other":           {"Other", "Otro"},
	"decline":         {"Decline to State", "Prefiero no decirlo"},
}

// raceKey returns the key of a race given by key or by name in any language.
func raceKey(v string) (string, bool) {
	for _, k := range raceKeys {
		n := raceNames[k]
		if strings.EqualFold(v, k) || strings.EqualFold(v, n.en) || strings.EqualFold(v, n.es) {
			return k, true
		}
	}
	return "", false
}

// partyNames are the display names of states.json's party and no-party keys.
var partyNames = map[string]msg{
	"democratic":               {"Democratic", "Demócrata"},
	"republican":               {"Republican", "Republicano"},
	"libertarian":              {"Libertarian", "Libertario"},
	"green":                    {"Green", "Verde"},
	"independent":              {"Independent", "Independiente"},
	"other":                    {"Other", "Otro"},
	"constitution":             {"Constitution", "Constitución"},
	"working_families":         {"Working Families", "Familias Trabajadoras"},
	"unenrolled":               {"Unenrolled", "No inscrito"},
	"independent_american":     {"Independent American", "Americano Independiente"},
	"american_independent":     {"American Independent", "Independiente Americano"},
	"peace_and_freedom":        {"Peace and Freedom", "Paz y Libertad"},
	"approval_voting":          {"Approval Voting", "Voto por Aprobación"},
	"unity":                    {"Unity", "Unidad"},
	"american_constitution":    {"American Constitution", "Constitución Americana"},
	"dc_statehood_green_party": {"DC Statehood Green", "Verde por la Estadidad de DC"},
	"green_independent":        {"Green Independent", "Verde Independiente"},
	"working_class_party":      {"Working Class", "Clase Trabajadora"},
	"legal_marijuana_now":      {"Legal Marijuana Now", "Marihuana Legal Ya"},
	"conservative":             {"Conservative", "Conservador"},
	"pacific_green":            {"Pacific Green", "Verde del Pacífico"},
	"progressive":              {"Progressive", "Progresista"},
	"united_utah":              {"United Utah", "Utah Unido"},
	"mountain":                 {"Mountain", "Montaña"},
	// No-party options.
	"none":                {"None", "Ninguno"},
	"none_no_affiliation": {"None / No affiliation", "Ninguno / Sin afiliación"},
	"unaffiliated":        {"Unaffiliated", "No afiliado"},
	"nonpartisan":         {"Nonpartisan", "No partidista"},
	"undeclared":          {"Undeclared", "No declarado"},
	"blank":               {"(leave blank)", "(dejar en blanco)"},
}

// PartyName is the display name of a party key in lang.
func PartyName(key, lang string) string {
	if m, ok := partyNames[key]; ok {
		return m.in(lang)
	}
	return key
}

// PartyList is the state's party choices in lang. The no-party option is
// not in it: clients append no_party_msg themselves (as Rocky's do).
func (s *State) PartyList(lang string) []string {
	out := make([]string, 0, len(s.Parties))
	for _, p := range s.Parties {
		out = append(out, PartyName(p, lang))
	}
	return out
}

// RequiresRaceMsg explains the state's rule on race.
func (s *State) RequiresRaceMsg(lang string) string {
	if s.RequiresRace {
		return msg{
			fmt.Sprintf("%s requires you to state your race or ethnic group on the form.", s.Name),
			fmt.Sprintf("%s exige que indique su raza o grupo étnico en el formulario.", s.Name),
		}.in(lang)
	}
	return msg{
		fmt.Sprintf("%s does not require race or ethnic group; you may leave it blank.", s.Name),
		fmt.Sprintf("%s no exige la raza ni el grupo étnico; puede dejarlo en blanco.", s.Name),
	}.in(lang)
}

// RequiresPartyMsg explains the state's rule on party affiliation.
func (s *State) RequiresPartyMsg(lang string) string {
	none := PartyName(s.NoParty, lang)
	if s.RequiresParty {
		return msg{
			fmt.Sprintf("In %s you must choose a party to take part in that party's primary elections. Choose %q if you do not want to join a party.", s.Name, none),
			fmt.Sprintf("En %s debe elegir un partido para participar en las elecciones primarias de ese partido. Elija %q si no desea afiliarse a ningún partido.", s.Name, none),
		}.in(lang)
	}
	return msg{
		fmt.Sprintf("%s does not register voters by party; you may leave party blank.", s.Name),
		fmt.Sprintf("%s no inscribe a los votantes por partido; puede dejar el partido en blanco.", s.Name),
	}.in(lang)
}

// IDNumberMsg explains what ID number the state accepts.
func (s *State) IDNumberMsg(lang string) string {
	lo, hi := s.IDBounds()
	return msg{
		fmt.Sprintf("Give your %s driver's license or state ID card number. If you have neither, give the last four digits of your Social Security number. %s accepts ID numbers of %d to %d letters or digits.", s.Name, s.Name, lo, hi),
		fmt.Sprintf("Indique el número de su licencia de conducir o tarjeta de identificación de %s. Si no tiene ninguna, indique los últimos cuatro dígitos de su número de Seguro Social. %s acepta números de identificación de %d a %d letras o dígitos.", s.Name, s.Name, lo, hi),
	}.in(lang)
}

// Sub18Msg explains the state's rule for people under 18 (also the message
// of the age error).
func (s *State) Sub18Msg(lang string) string {
	var m msg
	switch s.PreRegistrationRule {
	case "once_turned_16", "when_is_16":
		m = msg{"%s lets you pre-register from age 16; you will be added to the voter rolls when you turn 18.",
			"%s le permite preinscribirse desde los 16 años; será incluido en el padrón al cumplir 18."}
	case "once_turned_17":
		m = msg{"%s lets you register from age 17; you may vote once you are 18.",
			"%s le permite inscribirse desde los 17 años; podrá votar al cumplir 18."}
	case "once_turned_17_but":
		m = msg{"%s lets you register from age 17, but you may not vote until you are 18.",
			"%s le permite inscribirse desde los 17 años, pero no podrá votar hasta cumplir 18."}
	case "17_turn_18":
		m = msg{"In %s you may register at 17 if you will be 18 by the next election.",
			"En %s puede inscribirse a los 17 años si cumplirá 18 antes de la próxima elección."}
	case "turn_by_next_election", "turn_by_next_election_2", "be_by_next_election":
		m = msg{"In %s you may register if you will be 18 by the next election.",
			"En %s puede inscribirse si cumplirá 18 años antes de la próxima elección."}
	case "turn_by_next_general_election_november", "turn_by_next_general_election_november_2", "be_by_next_general_election_november":
		m = msg{"In %s you may register if you will be 18 by the next November general election.",
			"En %s puede inscribirse si cumplirá 18 años antes de la próxima elección general de noviembre."}
	case "6_months_before":
		m = msg{"In %s you may register if you will be 18 within six months.",
			"En %s puede inscribirse si cumplirá 18 años dentro de seis meses."}
	case "2_months_before":
		m = msg{"In %s you may register if you will be 18 within two months.",
			"En %s puede inscribirse si cumplirá 18 años dentro de dos meses."}
	case "90_days_before":
		m = msg{"In %s you may register if you will be 18 within 90 days.",
			"En %s puede inscribirse si cumplirá 18 años dentro de 90 días."}
	default:
		m = msg{"In %s you must be 18 to register to vote.",
			"En %s debe tener 18 años para inscribirse para votar."}
	}
	return fmt.Sprintf(m.in(lang), s.Name)
}

// NotParticipatingMsg is the state-specific error of a non-participating state.
func (s *State) NotParticipatingMsg(lang string) string {
	return fmt.Sprintf(msgNotInState.in(lang), s.Name)
}
