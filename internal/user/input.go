package user

import (
	"net/mail"
	"strings"
	"unicode/utf8"

	"github.com/borderproof/borderproof/internal/errs"
)

// Password length bounds, in characters.
const (
	MinPasswordLength = 12
	MaxPasswordLength = 256
)

// NormaliseEmail trims and lower-cases an email address.
func NormaliseEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

func checkEmail(f *errs.Fields, path, email string) {
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || a.Name != "" || len(email) > 254 {
		f.Add(path, "must be an email address")
	}
}

func checkPassword(f *errs.Fields, path, password string) {
	if n := utf8.RuneCountInString(password); n < MinPasswordLength || n > MaxPasswordLength {
		f.Add(path, "must be %d to %d characters", MinPasswordLength, MaxPasswordLength)
	}
}

func checkName(f *errs.Fields, path, name string) {
	if n := utf8.RuneCountInString(name); n < 1 || n > 200 {
		f.Add(path, "must be 1 to 200 characters")
	}
}

func checkRole(f *errs.Fields, path string, r Role) {
	if !r.Valid() {
		f.Add(path, "must be UNDERWRITER, FINANCE or ADMIN")
	}
}

// CreateUserInput creates a user directly (operators, the admin command).
type CreateUserInput struct {
	InsurerID string
	Email     string
	Name      string
	Role      Role
	Password  string
}

// Validate normalises the input and reports every bad field.
func (in *CreateUserInput) Validate() error {
	var f errs.Fields
	in.Email, in.Name = NormaliseEmail(in.Email), strings.TrimSpace(in.Name)
	in.Role = Role(strings.ToUpper(strings.TrimSpace(string(in.Role))))
	if in.InsurerID == "" {
		f.Add("insurerId", "is required")
	}
	checkEmail(&f, "email", in.Email)
	checkName(&f, "name", in.Name)
	checkRole(&f, "role", in.Role)
	checkPassword(&f, "password", in.Password)
	return f.Err()
}

// InviteInput invites someone to the caller's insurer.
type InviteInput struct {
	Email string
	Role  Role
}

// Validate normalises the input and reports every bad field.
func (in *InviteInput) Validate() error {
	var f errs.Fields
	in.Email = NormaliseEmail(in.Email)
	in.Role = Role(strings.ToUpper(strings.TrimSpace(string(in.Role))))
	checkEmail(&f, "email", in.Email)
	checkRole(&f, "role", in.Role)
	return f.Err()
}

// AcceptInput accepts an invitation.
type AcceptInput struct {
	Token    string
	Name     string
	Password string
}

// Validate normalises the input and reports every bad field.
func (in *AcceptInput) Validate() error {
	var f errs.Fields
	in.Name = strings.TrimSpace(in.Name)
	if in.Token == "" {
		f.Add("token", "is required")
	}
	checkName(&f, "name", in.Name)
	checkPassword(&f, "password", in.Password)
	return f.Err()
}
