package targeting

import (
	"strconv"
	"strings"
)

// NormalizePhone returns a phone number in E.164 form. Chinese mobiles are
// accepted as 11 digits 1[3-9]xxxxxxxxx, with +86, 0086 or 86 in front, and
// with spaces, dashes, dots or parentheses between digit groups; they come
// out as "+8613812345678". Other countries' numbers (tourists) are accepted
// only in E.164 form with "+" or "00": 8 to 15 digits, first digit 1–9.
func NormalizePhone(s string) (string, error) {
	d, err := phoneDigits(s)
	if err != nil {
		return "", err
	}
	return "+" + strconv.FormatUint(d, 10), nil
}

// phoneDigits is NormalizePhone returning the E.164 digits as a number,
// which is how the index stores a phone (8 bytes, not a string).
func phoneDigits(s string) (uint64, error) {
	raw := s
	s = strings.TrimSpace(s)
	var b [20]byte
	n := 0
	plus := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if n == len(b) {
				return 0, fieldErr("phone", "too long", raw)
			}
			b[n] = c
			n++
		case c == '+' && n == 0 && !plus:
			plus = true
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')':
		default:
			return 0, fieldErr("phone", "may contain only digits, a leading +, spaces, dashes, dots and parentheses", raw)
		}
	}
	digits := string(b[:n])
	intl := plus
	if !plus && strings.HasPrefix(digits, "00") {
		digits, intl = digits[2:], true
	}
	switch {
	case intl && strings.HasPrefix(digits, "86"):
		digits = digits[2:]
		if !isCNMobile(digits) {
			return 0, fieldErr("phone", "+86 must be followed by a Chinese mobile number 1[3-9] and 9 more digits", raw)
		}
		digits = "86" + digits
	case intl:
		if len(digits) < 8 || len(digits) > 15 || digits[0] == '0' {
			return 0, fieldErr("phone", "international numbers need 8 to 15 digits after + (E.164)", raw)
		}
	case isCNMobile(digits):
		digits = "86" + digits
	case len(digits) == 13 && strings.HasPrefix(digits, "86") && isCNMobile(digits[2:]):
	default:
		return 0, fieldErr("phone", "must be a Chinese mobile number 1[3-9] and 9 more digits, or E.164 (+…)", raw)
	}
	v, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return 0, fieldErr("phone", "not a number", raw)
	}
	return v, nil
}

func isCNMobile(d string) bool {
	return len(d) == 11 && d[0] == '1' && d[1] >= '3' && d[1] <= '9'
}
