package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/alertcast/alertcast/internal/apiclient"
)

// usersState disables or enables a user ("users disable|enable NAME").
func usersState(action string) func(ctx context.Context, args []string) error {
	return func(ctx context.Context, args []string) error {
		fs := newFlags("users " + action)
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return fmt.Errorf("usage: alertctl users %s NAME", action)
		}
		name := fs.Arg(0)
		if err := apiclient.FromEnv().Do(ctx, "POST", "/api/v1/users/"+url.PathEscape(name)+"/"+action, nil, nil); err != nil {
			return err
		}
		if action == "disable" {
			fmt.Printf("user %s disabled: their token and sessions no longer work\n", name)
		} else {
			fmt.Printf("user %s enabled\n", name)
		}
		return nil
	}
}

// usersRotate gives a user a new token, printed once.
func usersRotate(ctx context.Context, args []string) error {
	fs := newFlags("users rotate")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: alertctl users rotate NAME")
	}
	var out struct{ Name, Token string }
	if err := apiclient.FromEnv().Do(ctx, "POST", "/api/v1/users/"+url.PathEscape(fs.Arg(0))+"/rotate-token", nil, &out); err != nil {
		return err
	}
	fmt.Printf("user %s has a new token (shown once; the old one no longer works):\n%s\n", out.Name, out.Token)
	return nil
}

// usersPasswd sets a password. Passwords are read from standard input,
// one a line, never from the command line (where ps shows them): the new
// one, preceded by the current one with --old.
func usersPasswd(ctx context.Context, args []string) error {
	fs := newFlags("users passwd")
	old := fs.Bool("old", false, "changing your own password: read the current one first (required unless you are an admin setting another's)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: alertctl users passwd [--old] NAME   (passwords on standard input, one a line: [current,] new)")
	}
	in := bufio.NewReader(os.Stdin)
	body := map[string]string{}
	if *old {
		p, err := readSecret(in, "current password: ")
		if err != nil {
			return fmt.Errorf("current password: %w", err)
		}
		body["old_password"] = p
	}
	p, err := readSecret(in, "new password: ")
	if err != nil {
		return fmt.Errorf("new password: %w", err)
	}
	body["password"] = p
	if err := apiclient.FromEnv().Do(ctx, "POST", "/api/v1/users/"+url.PathEscape(fs.Arg(0))+"/password", body, nil); err != nil {
		return err
	}
	fmt.Printf("password of %s changed; their other sessions have ended\n", fs.Arg(0))
	return nil
}

func readSecret(in *bufio.Reader, prompt string) (string, error) {
	if fi, err := os.Stdin.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		fmt.Fprint(os.Stderr, prompt+"(typed text is shown) ")
	}
	line, err := in.ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", fmt.Errorf("reading standard input: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("empty line on standard input")
	}
	return line, nil
}

// usersList prints every user with role, scope and state (admin).
func usersList(ctx context.Context, args []string) error {
	fs := newFlags("users list")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return errors.New("usage: alertctl users list")
	}
	var out struct {
		Users []struct {
			Name       string `json:"name"`
			Role       string `json:"role"`
			ScopeLabel string `json:"scope_label"`
			Disabled   bool   `json:"disabled"`
		} `json:"users"`
	}
	if err := apiclient.FromEnv().Do(ctx, "GET", "/api/v1/users", nil, &out); err != nil {
		return err
	}
	fmt.Printf("%-24s %-9s %-9s %s\n", "NAME", "ROLE", "STATE", "SCOPE")
	for _, u := range out.Users {
		state := "active"
		if u.Disabled {
			state = "disabled"
		}
		fmt.Printf("%-24s %-9s %-9s %s\n", u.Name, u.Role, state, u.ScopeLabel)
	}
	return nil
}

// usersScope sets where a user may act (admin; at most your own scope).
func usersScope(ctx context.Context, args []string) error {
	fs := newFlags("users scope")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return errors.New("usage: alertctl users scope NAME SCOPE   (SCOPE: *, a prefecture such as 6531, or region codes such as 653122,653121)")
	}
	var out struct {
		Name       string `json:"name"`
		ScopeLabel string `json:"scope_label"`
	}
	if err := apiclient.FromEnv().Do(ctx, "POST", "/api/v1/users/"+url.PathEscape(fs.Arg(0))+"/scope", map[string]string{"scope": fs.Arg(1)}, &out); err != nil {
		return err
	}
	fmt.Printf("user %s may now act in %s\n", out.Name, out.ScopeLabel)
	return nil
}
