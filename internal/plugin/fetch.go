package plugin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/vanedev/vane/internal/analysis/provider/credentials"
)

// maxBinarySize bounds a download, so that a wrong URL cannot fill the disk.
const maxBinarySize = 1 << 30

// fetcher puts plugin binaries into a cache folder and checks their checksums.
type fetcher struct {
	// dir is the cache folder: <dir>/<kind>/<namespace>/<name>.
	dir string
	// http downloads http(s):// locations.
	http *http.Client
	// secrets reads the Secrets of headersFrom.
	secrets credentials.Store
}

// fetch copies or downloads the entry's binary into the cache, checks its sha256 when the
// entry has one, and returns its path and checksum. Nothing is left in the cache when it fails.
func (f *fetcher) fetch(ctx context.Context, it Item) (path, sum string, err error) {
	ns, name, err := splitName(it.Name)
	if err != nil {
		return "", "", err
	}
	folder := filepath.Join(f.dir, strings.ToLower(string(it.Kind)), ns)
	if err := os.MkdirAll(folder, 0o755); err != nil {
		return "", "", fmt.Errorf("creating the plugin folder: %w", err)
	}
	tmp, err := os.CreateTemp(folder, "."+name+"-*")
	if err != nil {
		return "", "", fmt.Errorf("creating the plugin file: %w", err)
	}
	defer func() {
		tmp.Close()
		if err != nil {
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	if err = f.copyTo(ctx, io.MultiWriter(tmp, h), it); err != nil {
		return "", "", err
	}
	sum = hex.EncodeToString(h.Sum(nil))
	if it.Sha256 != "" && !strings.EqualFold(sum, it.Sha256) {
		return "", "", fmt.Errorf("the binary from %s has sha256 %s, the ConfigMap expects %s: refusing to run it",
			redact(it.Location), sum, strings.ToLower(it.Sha256))
	}
	if err = tmp.Chmod(0o755); err != nil {
		return "", "", fmt.Errorf("making the plugin executable: %w", err)
	}
	if err = tmp.Close(); err != nil {
		return "", "", fmt.Errorf("writing the plugin file: %w", err)
	}
	path = filepath.Join(folder, name)
	if err = os.Rename(tmp.Name(), path); err != nil {
		return "", "", fmt.Errorf("moving the plugin into place: %w", err)
	}
	return path, sum, nil
}

// copyTo writes the binary the entry's location names to w.
func (f *fetcher) copyTo(ctx context.Context, w io.Writer, it Item) error {
	u, err := url.Parse(it.Location)
	if err != nil {
		return fmt.Errorf("location: not a URL")
	}
	if u.Scheme == "file" {
		return copyFile(w, u.Host+u.Path)
	}
	return f.download(ctx, w, u, it.HeadersFrom)
}

// copyFile copies the regular file at path (relative paths are the controller's working
// folder's, as in Argo Rollouts) to w.
func copyFile(w io.Writer, path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("resolving %s: %w", path, err)
	}
	src, err := os.Open(abs)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("the plugin binary %s does not exist", abs)
		}
		return fmt.Errorf("opening the plugin binary: %w", err)
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return fmt.Errorf("reading the plugin binary %s: %w", abs, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("the plugin binary %s is not a regular file", abs)
	}
	if _, err := io.Copy(w, src); err != nil {
		return fmt.Errorf("copying the plugin binary %s: %w", abs, err)
	}
	return nil
}

// download GETs u into w, with the headers of the Secrets headersFrom names. Messages name the
// Secrets, never their values.
func (f *fetcher) download(ctx context.Context, w io.Writer, u *url.URL, headersFrom []HeadersFrom) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("downloading from %s: %w", u.Redacted(), err)
	}
	for _, hf := range headersFrom {
		sec, err := f.secrets.Get(ctx, f.secrets.ControllerNamespace(), hf.SecretRef.Name)
		if err != nil {
			return fmt.Errorf("headersFrom: %w", err)
		}
		for k, v := range sec.Data {
			req.Header.Add(k, string(v))
		}
	}
	resp, err := f.http.Do(req)
	if err != nil {
		return fmt.Errorf("downloading from %s: %w", u.Redacted(), unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("downloading from %s: the server answered %s", u.Redacted(), resp.Status)
	}
	n, err := io.Copy(w, io.LimitReader(resp.Body, maxBinarySize+1))
	if err != nil {
		return fmt.Errorf("downloading from %s: %w", u.Redacted(), err)
	}
	if n > maxBinarySize {
		return fmt.Errorf("downloading from %s: larger than %d bytes", u.Redacted(), maxBinarySize)
	}
	return nil
}

// unwrapURLError drops the *url.Error wrapper, whose text repeats the URL unredacted.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// redact returns a location without the password a URL may hold.
func redact(location string) string {
	u, err := url.Parse(location)
	if err != nil {
		return "the location"
	}
	return u.Redacted()
}
