package registration

import "time"

// Age returns the age in whole years on day now of someone born on dob.
func Age(dob, now time.Time) int {
	y := now.Year() - dob.Year()
	if now.Month() < dob.Month() || (now.Month() == dob.Month() && now.Day() < dob.Day()) {
		y--
	}
	return y
}

// NextGeneralElection is the next federal general election on or after
// day: the Tuesday after the first Monday of November of an even year.
func NextGeneralElection(day time.Time) time.Time {
	day = time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, time.UTC)
	for y := day.Year(); ; y++ {
		if y%2 != 0 {
			continue
		}
		nov1 := time.Date(y, time.November, 1, 0, 0, 0, 0, time.UTC)
		// First Monday, then the Tuesday after it.
		firstMonday := nov1.AddDate(0, 0, (int(time.Monday)-int(nov1.Weekday())+7)%7)
		e := firstMonday.AddDate(0, 0, 1)
		if !e.Before(day) {
			return e
		}
	}
}

// MayRegister reports whether someone born on dob may submit the form on
// day now in state s: anyone 18 or older, and younger people as the
// state's pre-registration rule allows. The rule categories come from
// states.json; "next election" is taken as the next federal general
// election (NextGeneralElection), the one every state holds.
func MayRegister(s *State, dob, now time.Time) bool {
	age := Age(dob, now)
	if age >= 18 {
		return true
	}
	eighteenth := dob.AddDate(18, 0, 0)
	byElection := !eighteenth.After(NextGeneralElection(now))
	switch s.PreRegistrationRule {
	case "once_turned_16", "when_is_16":
		return age >= 16
	case "once_turned_17", "once_turned_17_but":
		return age >= 17
	case "17_turn_18":
		return age >= 17 && byElection
	case "turn_by_next_election", "turn_by_next_election_2", "be_by_next_election",
		"turn_by_next_general_election_november", "turn_by_next_general_election_november_2",
		"be_by_next_general_election_november":
		return byElection
	case "6_months_before":
		return !eighteenth.After(now.AddDate(0, 6, 0))
	case "2_months_before":
		return !eighteenth.After(now.AddDate(0, 2, 0))
	case "90_days_before":
		return !eighteenth.After(now.AddDate(0, 0, 90))
	}
	return false // "blank" and unknown rules: 18 only
}
