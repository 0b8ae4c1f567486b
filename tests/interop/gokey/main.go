// Command gokey checks that Go's crypto/x509 loads a private key fedca wrote, the way
// Dendrite (and any Go server) loads key.pem:
//
//	gokey KEY.pem CERT.pem
//
// parses the single PRIVATE KEY block of KEY.pem with x509.ParsePKCS8PrivateKey, the
// first CERTIFICATE of CERT.pem with x509.ParseCertificate, and checks that the key's
// public half is the certificate's public key. Then it checks that crypto/tls's
// X509KeyPair (what a Go TLS server calls) accepts the pair. It prints the key's Go type
// and exits 0, or prints the error and exits 1 (2 on a usage or I/O error).
package main

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
)

func fail(code int, format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "gokey: "+format+"\n", args...)
	os.Exit(code)
}

func main() {
	if len(os.Args) != 3 {
		fail(2, "usage: gokey KEY.pem CERT.pem")
	}
	keyPEM, err := os.ReadFile(os.Args[1])
	if err != nil {
		fail(2, "%v", err)
	}
	certPEM, err := os.ReadFile(os.Args[2])
	if err != nil {
		fail(2, "%v", err)
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil || kb.Type != "PRIVATE KEY" {
		fail(1, "%s: no PRIVATE KEY block", os.Args[1])
	}
	key, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		fail(1, "x509.ParsePKCS8PrivateKey: %v", err)
	}
	cb, _ := pem.Decode(certPEM)
	if cb == nil || cb.Type != "CERTIFICATE" {
		fail(2, "%s: no CERTIFICATE block", os.Args[2])
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		fail(2, "x509.ParseCertificate: %v", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		fail(1, "%T is not a crypto.Signer", key)
	}
	pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		fail(1, "the key's public half is not the certificate's public key")
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		fail(1, "tls.X509KeyPair: %v", err)
	}
	fmt.Printf("%T\n", key)
}
