package listing

import (
	"errors"

	"github.com/b2fs/b2fs/fs/backend"
)

// The backend interfaces and values, defined in package backend.
type (
	Backend    = backend.Backend
	TreeLister = backend.TreeLister
	Bucket     = backend.Bucket
	Object     = backend.Object
	Page       = backend.Page
)

var errPaging = errors.New("listing did not terminate")
