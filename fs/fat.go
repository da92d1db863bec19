package fs

import "io"

func openFAT(r io.ReaderAt, size int64) (FS, error) { return nil, unsupportedf("fat") }
