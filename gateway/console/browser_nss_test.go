package console_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/liaison-project/liaison/gateway/gatewaytest"
)

// TestBrowserMutualTLSNSS checks the second way Chromium can hold the
// agency's certificate: its own NSS database (no Playwright proxy; the
// handshake is Chromium's). Opt-in (LIAISON_CONSOLE_NSS=1): it needs
// certutil and pk12util (Debian's libnss3-tools) and Chromium's managed
// policy AutoSelectCertificateForUrls for https://localhost:* in
// /etc/chromium/policies/managed/, a machine-wide file a test should not
// write (docs/console.md, "Browser tests"). The suite uses Playwright's
// clientCertificates instead, which needs neither.
func TestBrowserMutualTLSNSS(t *testing.T) {
	if os.Getenv("LIAISON_CONSOLE_NSS") == "" {
		t.Skip("set LIAISON_CONSOLE_NSS=1 (needs libnss3-tools)")
	}
	bt := needBrowser(t)
	e := gatewaytest.Start(t, gatewaytest.Options{Quiet: true})
	agency := consoleAgency
	home := t.TempDir()
	db := "sql:" + filepath.Join(home, ".pki", "nssdb")
	if err := os.MkdirAll(filepath.Join(home, ".pki", "nssdb"), 0o700); err != nil {
		t.Fatal(err)
	}
	p12 := filepath.Join(t.TempDir(), "agency.p12")
	run := func(name string, args ...string) {
		t.Helper()
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	run("certutil", "-N", "-d", db, "--empty-password")
	run("certutil", "-A", "-d", db, "-n", "liaison-dev-ca", "-t", "C,,", "-i", e.Fed.CAFile)
	run("openssl", "pkcs12", "-export", "-in", e.Fed.AgencyCertFile(agency), "-inkey", e.Fed.AgencyKeyFile(agency),
		"-name", agency, "-out", p12, "-passout", "pass:")
	run("pk12util", "-i", p12, "-d", db, "-W", "")
	extra := []string{"LIAISON_CONSOLE_NSS_HOME=" + home}
	if v := os.Getenv("LIAISON_CONSOLE_AUTOSELECT"); v != "" {
		extra = append(extra, "LIAISON_CONSOLE_AUTOSELECT="+v)
	}
	runSpecs(t, bt, specRun{env: e, agency: agency, extra: extra}, "mtls-nss.mjs")
}
