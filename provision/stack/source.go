package stack

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/downloader"
	"helm.sh/helm/v3/pkg/getter"
	"helm.sh/helm/v3/pkg/provenance"
	"helm.sh/helm/v3/pkg/registry"
	"helm.sh/helm/v3/pkg/repo"
)

// MirrorEnv names the environment variable that points at a chart mirror.
const MirrorEnv = "DSTLOAD_CHART_MIRROR"

// DefaultCacheDir is <user cache dir>/dstload/helm: downloaded chart
// archives (charts/<repository>/) and repository indexes (repository/).
func DefaultCacheDir() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find cache dir: %w", err)
	}
	return filepath.Join(base, "dstload", "helm"), nil
}

// Origin says where a chart came from.
type Origin string

const (
	// FromCache: the archive was already in the cache; nothing was fetched.
	FromCache Origin = "cache"
	// FromDownload: fetched from a repository (or a mirror URL) into the cache.
	FromDownload Origin = "download"
	// FromMirrorDir: read from a mirror directory; nothing was copied.
	FromMirrorDir Origin = "mirror-dir"
)

// Source finds chart archives: in a mirror directory, in the cache, or by
// downloading them with Helm's repository index and chart downloader (HTTP)
// or registry client (OCI).
type Source struct {
	// Mirror replaces every release's repository: a directory or file:// URL
	// holding index.yaml and the archives, or an http(s) URL of a Helm
	// repository. Empty means each release's own repository.
	Mirror string
	// CacheDir receives downloaded archives (<CacheDir>/charts/...) and
	// repository indexes.
	CacheDir string
	// PlainHTTP talks to OCI registries without TLS (like helm's
	// --plain-http), e.g. a registry on loopback.
	PlainHTTP bool
	Log       *slog.Logger

	// indexes keeps the repository indexes read in this run, so that charts
	// from one repository cost one index download.
	mu      sync.Mutex
	indexes map[string]*repo.IndexFile
}

// Fetched is a loaded chart and where it came from.
type Fetched struct {
	Chart  *chart.Chart
	Path   string
	Origin Origin
}

// Fetch returns the chart of rel at exactly rel.Version.
func (s *Source) Fetch(ctx context.Context, rel Release) (*Fetched, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if dir, ok := mirrorDir(s.Mirror); ok {
		p, err := findInDir(dir, rel.Chart, rel.Version)
		if err != nil {
			return nil, err
		}
		ch, err := loadChecked(p, rel)
		if err != nil {
			return nil, err
		}
		return &Fetched{Chart: ch, Path: p, Origin: FromMirrorDir}, nil
	}

	repoURL := rel.Repo
	if s.Mirror != "" {
		repoURL = s.Mirror
	}
	if s.CacheDir == "" {
		return nil, fmt.Errorf("no chart cache directory configured")
	}
	dir := filepath.Join(s.CacheDir, "charts", cacheKey(repoURL))
	cached := filepath.Join(dir, rel.Chart+"-"+rel.Version+".tgz")
	if _, err := os.Stat(cached); err == nil {
		ch, err := loadChecked(cached, rel)
		if err == nil {
			s.log().Debug("chart from cache", "chart", rel.Chart, "version", rel.Version, "path", cached)
			return &Fetched{Chart: ch, Path: cached, Origin: FromCache}, nil
		}
		// A damaged cache entry is replaced, not trusted.
		s.log().Warn("discarding unreadable cached chart", "path", cached, "err", err)
		if err := os.Remove(cached); err != nil {
			return nil, fmt.Errorf("remove damaged cached chart: %w", err)
		}
	}

	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create chart cache: %w", err)
	}
	s.log().Info("downloading chart", "chart", rel.Chart, "version", rel.Version, "repo", redactURL(repoURL))
	var err error
	if registry.IsOCI(repoURL) {
		err = s.downloadOCI(repoURL, rel, dir, cached)
	} else {
		err = s.downloadHTTP(repoURL, rel, dir, cached)
	}
	if err != nil {
		hint := ""
		if s.Mirror == "" {
			hint = fmt.Sprintf(" (offline? use --chart-mirror DIR|URL or %s)", MirrorEnv)
		}
		return nil, fmt.Errorf("fetch chart %s %s from %s: %w%s", rel.Chart, rel.Version, redactURL(repoURL), err, hint)
	}
	ch, err := loadChecked(cached, rel)
	if err != nil {
		os.Remove(cached)
		return nil, err
	}
	return &Fetched{Chart: ch, Path: cached, Origin: FromDownload}, nil
}

func (s *Source) log() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

// mirrorDir reports whether mirror names a local directory.
func mirrorDir(mirror string) (string, bool) {
	if mirror == "" {
		return "", false
	}
	if strings.HasPrefix(mirror, "file://") {
		return strings.TrimPrefix(mirror, "file://"), true
	}
	if u, err := url.Parse(mirror); err == nil && u.Scheme != "" && len(u.Scheme) > 1 {
		return "", false
	}
	return mirror, true
}

// findInDir resolves chart@version in a directory laid out as a Helm
// repository (index.yaml + archives); without index.yaml it looks for the
// conventional <chart>-<version>.tgz.
func findInDir(dir, name, version string) (string, error) {
	indexPath := filepath.Join(dir, "index.yaml")
	if _, err := os.Stat(indexPath); os.IsNotExist(err) {
		p := filepath.Join(dir, name+"-"+version+".tgz")
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("chart mirror %s has no index.yaml and no %s-%s.tgz", dir, name, version)
		}
		return p, nil
	}
	idx, err := repo.LoadIndexFile(indexPath)
	if err != nil {
		return "", fmt.Errorf("read chart mirror index %s: %w", indexPath, err)
	}
	cv, err := findVersion(idx, name, version, dir)
	if err != nil {
		return "", err
	}
	ref := cv.URLs[0]
	var p string
	if u, err := url.Parse(ref); err == nil && u.IsAbs() {
		// An index written for a web server: the archive sits beside it.
		p = filepath.Join(dir, path.Base(u.Path))
	} else {
		p = filepath.Join(dir, filepath.FromSlash(ref))
	}
	if err := checkDigest(p, cv.Digest); err != nil {
		return "", err
	}
	return p, nil
}

// findVersion looks up exactly version (pins are exact, not ranges) and
// names the versions there are when it is missing.
func findVersion(idx *repo.IndexFile, name, version, where string) (*repo.ChartVersion, error) {
	vs, ok := idx.Entries[name]
	if !ok || len(vs) == 0 {
		return nil, fmt.Errorf("chart %s is not in %s", name, where)
	}
	var have []string
	for _, cv := range vs {
		if cv.Version == version {
			if len(cv.URLs) == 0 {
				return nil, fmt.Errorf("chart %s %s in %s has no archive URL", name, version, where)
			}
			return cv, nil
		}
		have = append(have, cv.Version)
	}
	slices.Sort(have)
	if len(have) > 5 {
		have = append(have[len(have)-5:], "...")
	}
	return nil, fmt.Errorf("chart %s version %s is not in %s (it has %s); fix the version override or the mirror", name, version, where, strings.Join(have, ", "))
}

func checkDigest(p, want string) error {
	if want == "" {
		return nil
	}
	got, err := provenance.DigestFile(p)
	if err != nil {
		return fmt.Errorf("read chart archive: %w", err)
	}
	if !strings.EqualFold(got, strings.TrimPrefix(want, "sha256:")) {
		return fmt.Errorf("chart archive %s has digest %s, its index says %s", p, got, want)
	}
	return nil
}

// loadChecked loads an archive and checks it is the chart and version asked
// for, so that a misnamed file never installs the wrong chart.
func loadChecked(p string, rel Release) (*chart.Chart, error) {
	ch, err := loader.Load(p)
	if err != nil {
		return nil, fmt.Errorf("load chart %s: %w", p, err)
	}
	if ch.Metadata.Name != rel.Chart || ch.Metadata.Version != rel.Version {
		return nil, fmt.Errorf("chart archive %s holds %s %s, want %s %s", p, ch.Metadata.Name, ch.Metadata.Version, rel.Chart, rel.Version)
	}
	return ch, nil
}

func getters() getter.Providers { return getter.Getters() }

// downloadHTTP reads the repository index (kept under the cache, not in the
// user's Helm cache) and downloads the archive it names.
func (s *Source) downloadHTTP(repoURL string, rel Release, dir, dest string) error {
	idx, err := s.index(repoURL)
	if err != nil {
		return err
	}
	cv, err := findVersion(idx, rel.Chart, rel.Version, "the repository index")
	if err != nil {
		return err
	}
	chartURL, err := repo.ResolveReferenceURL(repoURL, cv.URLs[0])
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(dir, ".download-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	dl := &downloader.ChartDownloader{
		Out:     io.Discard,
		Verify:  downloader.VerifyNever,
		Getters: getters(),
		// A repositories file that does not exist: no user repository
		// configuration is consulted or written.
		RepositoryConfig: filepath.Join(tmp, "repositories.yaml"),
		RepositoryCache:  filepath.Join(s.CacheDir, "repository"),
	}
	got, _, err := dl.DownloadTo(chartURL, "", tmp)
	if err != nil {
		return err
	}
	if err := checkDigest(got, cv.Digest); err != nil {
		return err
	}
	return os.Rename(got, dest)
}

// index downloads a repository's index.yaml once per Source.
func (s *Source) index(repoURL string) (*repo.IndexFile, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if idx, ok := s.indexes[repoURL]; ok {
		return idx, nil
	}
	cr, err := repo.NewChartRepository(&repo.Entry{Name: cacheKey(repoURL), URL: repoURL}, getters())
	if err != nil {
		return nil, err
	}
	cr.CachePath = filepath.Join(s.CacheDir, "repository")
	idxPath, err := cr.DownloadIndexFile()
	if err != nil {
		return nil, fmt.Errorf("read repository index: %w", err)
	}
	idx, err := repo.LoadIndexFile(idxPath)
	if err != nil {
		return nil, fmt.Errorf("read repository index: %w", err)
	}
	if s.indexes == nil {
		s.indexes = map[string]*repo.IndexFile{}
	}
	s.indexes[repoURL] = idx
	return idx, nil
}

func (s *Source) downloadOCI(repoURL string, rel Release, dir, dest string) error {
	opts := []registry.ClientOption{registry.ClientOptEnableCache(true), registry.ClientOptWriter(io.Discard)}
	if s.PlainHTTP {
		opts = append(opts, registry.ClientOptPlainHTTP())
	}
	rc, err := registry.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("registry client: %w", err)
	}
	tmp, err := os.MkdirTemp(dir, ".download-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	dl := &downloader.ChartDownloader{
		Out:              io.Discard,
		Verify:           downloader.VerifyNever,
		Getters:          getter.Getters(getter.WithRegistryClient(rc)),
		RegistryClient:   rc,
		RepositoryConfig: filepath.Join(tmp, "repositories.yaml"),
		RepositoryCache:  filepath.Join(s.CacheDir, "repository"),
	}
	ref := strings.TrimSuffix(repoURL, "/") + "/" + rel.Chart
	got, _, err := dl.DownloadTo(ref, rel.Version, tmp)
	if err != nil {
		return err
	}
	return os.Rename(got, dest)
}

var unsafeKey = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// cacheKey names a repository's cache directory after its URL, readable and
// without credentials.
func cacheKey(repoURL string) string {
	u, err := url.Parse(repoURL)
	s := repoURL
	if err == nil {
		s = u.Host + u.Path
	}
	s = strings.Trim(unsafeKey.ReplaceAllString(s, "_"), "_.")
	if s == "" {
		s = "repo"
	}
	return s
}

// redactURL drops user info so that credentials in a mirror URL are never
// logged.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	u.User = nil
	return u.String()
}
