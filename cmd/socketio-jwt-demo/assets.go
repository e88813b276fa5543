package main

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// web holds the page: plain HTML, JavaScript and CSS, no build step.
//
//go:embed web
var web embed.FS

// webFS is the page's files at the root of the site.
func webFS() fs.FS {
	sub, err := fs.Sub(web, "web")
	if err != nil {
		panic(err) // the directory is embedded: unreachable
	}
	return sub
}

// clientScript is the path, under a node_modules directory, of the
// socket.io-client browser bundle the page loads.
const clientScript = "socket.io-client/dist/socket.io.min.js"

// clientAssets is the socket.io-client bundle, read once at start.
type clientAssets struct {
	script []byte
	srcMap []byte // nil when the package has none
}

// loadClientAssets reads the socket.io-client bundle from dir (a
// node_modules directory), or, when dir is "", from the first
// node_modules found in the working directory or one of its parents. It is
// never copied into the repository: npm installs it from the lockfile.
func loadClientAssets(dir string) (*clientAssets, error) {
	if dir == "" {
		found, err := findNodeModules()
		if err != nil {
			return nil, err
		}
		dir = found
	}
	path := filepath.Join(dir, filepath.FromSlash(clientScript))
	script, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("socket.io-client is missing (%v): run `npm ci` in the repository root (or `make demo`), or pass -assets with the node_modules directory that holds it", err)
	}
	a := &clientAssets{script: script}
	if m, err := os.ReadFile(path + ".map"); err == nil {
		a.srcMap = m
	}
	return a, nil
}

// findNodeModules walks up from the working directory to the first
// node_modules that holds socket.io-client.
func findNodeModules() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		nm := filepath.Join(dir, "node_modules")
		if _, err := os.Stat(filepath.Join(nm, filepath.FromSlash(clientScript))); err == nil {
			return nm, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("socket.io-client is missing: no node_modules/" + clientScript +
				" in the working directory or its parents: run `npm ci` in the repository root (or `make demo`), or pass -assets DIR")
		}
		dir = parent
	}
}
