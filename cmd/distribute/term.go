package main

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/distribute-go/distribute/etf"
	"github.com/spf13/cobra"
)

// termArgs marks commands whose positional arguments are terms, which may
// start with '-'.
var termArgs = map[string]string{"termArgs": "true"}

func newTermCmd() *cobra.Command {
	term := &cobra.Command{
		Use:   "term",
		Short: "Convert terms between Erlang text and the External Term Format",
	}
	term.AddCommand(&cobra.Command{
		Use:   "encode [TERM]",
		Short: "Print the External Term Format bytes of TERM as lowercase hex",
		Long: "Print term_to_binary(TERM, [{minor_version, 2}]) as lowercase hex.\n" +
			"TERM is Erlang term syntax; several arguments are joined with spaces.\n" +
			"Without TERM, each line of standard input is one term.",
		Example:     `  distribute term encode '{hello, "world", <<1,2>>, #{a => 1.5}}'` + "\n  distribute term encode -1",
		Annotations: termArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return eachInput(cmd, "term encode", args, func(text string) (string, error) {
				t, err := etf.ParseText(text)
				if err != nil {
					return "", err
				}
				b, err := etf.Encode(t)
				if err != nil {
					return "", err
				}
				return hex.EncodeToString(b), nil
			})
		},
	})
	term.AddCommand(&cobra.Command{
		Use:   "decode [HEX]",
		Short: "Print the term whose External Term Format bytes HEX gives",
		Long: "Decode HEX (External Term Format bytes starting with 83, whitespace allowed)\n" +
			"and print the term as io_lib:format(\"~0p\") does.\n" +
			"Without HEX, each line of standard input is one term.",
		Example:     "  distribute term decode 8368027701616101",
		Annotations: termArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return eachInput(cmd, "term decode", args, func(text string) (string, error) {
				clean := strings.Join(strings.Fields(text), "")
				clean = strings.TrimPrefix(strings.TrimPrefix(clean, "0x"), "0X")
				b, err := hex.DecodeString(clean)
				if err != nil {
					return "", fmt.Errorf("not hex: %w", err)
				}
				t, err := etf.Decode(b)
				if err != nil {
					return "", err
				}
				return etf.Format(t), nil
			})
		},
	})
	return term
}

// eachInput applies conv to the arguments joined by spaces, or, without
// arguments, to each non-blank line of standard input, printing each result
// on its own line. A conversion error is a usage error of verb, located on
// its line of standard input.
func eachInput(cmd *cobra.Command, verb string, args []string, conv func(string) (string, error)) error {
	out := cmd.OutOrStdout()
	if len(args) > 0 {
		s, err := conv(strings.Join(args, " "))
		if err != nil {
			return usageError("%s: %v", verb, err)
		}
		_, err = fmt.Fprintln(out, s)
		return err
	}
	sc := bufio.NewScanner(cmd.InOrStdin())
	sc.Buffer(make([]byte, 64*1024), 64*1024*1024)
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if strings.TrimSpace(text) == "" {
			continue
		}
		s, err := conv(text)
		if err != nil {
			return usageError("%s: standard input %s", verb, lineError(line, err))
		}
		if _, err := fmt.Fprintln(out, s); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil && err != io.EOF {
		return usageError("reading standard input: %v", err)
	}
	return nil
}

// lineError places err, about one line of input, on line: "line N: ...",
// or "line N, column C: ..." for a term text error, whose own position
// counts from the start of that line.
func lineError(line int, err error) string {
	var te *etf.TextError
	if errors.As(err, &te) {
		return fmt.Sprintf("line %d, column %d: %s", line, te.Col, te.Msg)
	}
	return fmt.Sprintf("line %d: %v", line, err)
}
