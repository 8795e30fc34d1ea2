package deps

import "github.com/sluice-ci/sluice/internal/python"

func normalize(s string) string { return python.NormalizeName(s) }
