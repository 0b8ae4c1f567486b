// Command goverify verifies a TLS server certificate chain the way Dendrite (Go) does:
// crypto/x509's Verify for an offline chain, or a real crypto/tls client handshake.
//
// Offline:
//
//	goverify --chain fullchain.pem --trust roots.pem --name NAME [--at RFC3339]
//
// runs x509.Certificate.Verify on the first certificate of --chain with
//
//	Roots:         the certificates of --trust (nothing else: no system roots)
//	Intermediates: every other certificate of --chain
//	DNSName:       NAME (crypto/x509 matches IP literals against iPAddress SANs)
//	KeyUsages:     [ExtKeyUsageServerAuth]
//	CurrentTime:   --at (default: now)
//
// Live:
//
//	goverify --connect HOST:PORT --trust roots.pem --name NAME [--at RFC3339]
//
// does a crypto/tls client handshake with RootCAs from --trust and ServerName NAME, as
// Dendrite's federation client does (Go sends no SNI when NAME is an IP literal).
//
// NAME is a Matrix hostname with the port dropped: a DNS name, an IPv4 literal or an IPv6
// literal without brackets. Output is one JSON line
//
//	{"verifier": "go-x509"|"go-tls", "valid": true|false, "error": "..."}
//
// and the exit status is 0 if valid, 1 if invalid, 2 on a usage or I/O error.
package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"
)

type result struct {
	Verifier string `json:"verifier"`
	Valid    bool   `json:"valid"`
	Error    string `json:"error"`
}

func emit(verifier string, valid bool, msg string, code int) {
	b, _ := json.Marshal(result{Verifier: verifier, Valid: valid, Error: msg})
	// json.Marshal escapes <, > and & as \u003c...; that is valid JSON and fine here.
	fmt.Println(string(b))
	os.Exit(code)
}

// parsePEMCerts reads every CERTIFICATE block of data. Anything that is not a complete,
// parseable certificate (garbage between blocks, a truncated block, bad DER) is an error.
func parsePEMCerts(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := data
	for {
		block, r := pem.Decode(rest)
		if block == nil {
			if len(bytes.TrimSpace(rest)) != 0 {
				if len(certs) == 0 {
					return nil, errors.New("no PEM certificate block could be decoded (malformed or truncated PEM)")
				}
				return nil, fmt.Errorf("malformed or truncated PEM after certificate %d", len(certs))
			}
			break
		}
		rest = r
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("unexpected PEM block %q (want CERTIFICATE)", block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %v", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return certs, nil
}

func main() {
	fs := flag.NewFlagSet("goverify", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	chainPath := fs.String("chain", "", "PEM chain: leaf first, then intermediates")
	trustPath := fs.String("trust", "", "PEM trust anchors")
	name := fs.String("name", "", "expected hostname or IP literal (no port, no brackets)")
	at := fs.String("at", "", "verification time, RFC 3339 (default: now)")
	connect := fs.String("connect", "", "HOST:PORT: do a live crypto/tls handshake instead")
	verifier := "go-x509"
	for _, a := range os.Args[1:] {
		if a == "--connect" || a == "-connect" || strings.HasPrefix(a, "--connect=") || strings.HasPrefix(a, "-connect=") {
			verifier = "go-tls"
		}
	}
	usage := "usage: goverify (--chain FILE | --connect HOST:PORT) --trust FILE --name NAME [--at RFC3339]"
	if err := fs.Parse(os.Args[1:]); err != nil {
		emit(verifier, false, usage+": "+err.Error(), 2)
	}
	if fs.NArg() != 0 {
		emit(verifier, false, usage+": unexpected argument "+fs.Arg(0), 2)
	}
	if *trustPath == "" || *name == "" || (*connect == "" && *chainPath == "") {
		emit(verifier, false, usage, 2)
	}
	if *connect != "" && *chainPath != "" {
		emit(verifier, false, usage+": --chain and --connect are exclusive", 2)
	}
	if strings.HasPrefix(*name, "[") {
		emit(verifier, false, "--name "+*name+": give IPv6 literals without brackets", 2)
	}
	now := time.Now()
	if *at != "" {
		t, err := time.Parse(time.RFC3339, *at)
		if err != nil {
			emit(verifier, false, "--at: "+err.Error(), 2)
		}
		now = t
	}

	trustPEM, err := os.ReadFile(*trustPath)
	if err != nil {
		emit(verifier, false, "--trust: "+err.Error(), 2)
	}
	anchors, err := parsePEMCerts(trustPEM)
	if err != nil {
		emit(verifier, false, "--trust "+*trustPath+": "+err.Error(), 2)
	}
	roots := x509.NewCertPool()
	for _, c := range anchors {
		roots.AddCert(c)
	}

	if *connect != "" {
		conf := &tls.Config{
			RootCAs:    roots,
			ServerName: *name,
			Time:       func() time.Time { return now },
		}
		dialer := &net.Dialer{Timeout: 10 * time.Second}
		conn, err := tls.DialWithDialer(dialer, "tcp", *connect, conf)
		if err != nil {
			var opErr *net.OpError
			if errors.As(err, &opErr) && opErr.Op == "dial" {
				emit(verifier, false, err.Error(), 2)
			}
			emit(verifier, false, err.Error(), 1)
		}
		conn.Close()
		emit(verifier, true, "", 0)
	}

	chainPEM, err := os.ReadFile(*chainPath)
	if err != nil {
		emit(verifier, false, "--chain: "+err.Error(), 2)
	}
	certs, err := parsePEMCerts(chainPEM)
	if err != nil {
		emit(verifier, false, err.Error(), 1)
	}
	inters := x509.NewCertPool()
	for _, c := range certs[1:] {
		inters.AddCert(c)
	}
	_, err = certs[0].Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inters,
		DNSName:       *name,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		CurrentTime:   now,
	})
	if err != nil {
		emit(verifier, false, err.Error(), 1)
	}
	emit(verifier, true, "", 0)
}
