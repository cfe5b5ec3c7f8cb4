package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"testing"
	"time"

	"github.com/b2fs/b2fs/test/b2emu"
)

// createKey makes a restricted application key through the B2 API
// (b2_create_key) with the master key.
func createKey(t *testing.T, ts *b2emu.TestServer, bucketID, namePrefix string) (string, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", ts.URL+"/b2api/v3/b2_authorize_account", nil)
	req.SetBasicAuth(ts.KeyID, ts.Key)
	var auth struct {
		AccountID          string `json:"accountId"`
		AuthorizationToken string `json:"authorizationToken"`
		APIInfo            struct {
			StorageAPI struct {
				APIURL string `json:"apiUrl"`
			} `json:"storageApi"`
		} `json:"apiInfo"`
	}
	doJSON(t, req, &auth)
	body := map[string]any{
		"accountId":    auth.AccountID,
		"keyName":      "restricted",
		"capabilities": []string{"listBuckets", "listFiles", "readFiles", "writeFiles", "deleteFiles"},
		"bucketId":     bucketID,
	}
	if namePrefix != "" {
		body["namePrefix"] = namePrefix
	}
	b, _ := json.Marshal(body)
	req, _ = http.NewRequest("POST", auth.APIInfo.StorageAPI.APIURL+"/b2api/v3/b2_create_key", bytes.NewReader(b))
	req.Header.Set("Authorization", auth.AuthorizationToken)
	var key struct {
		ID  string `json:"applicationKeyId"`
		Key string `json:"applicationKey"`
	}
	doJSON(t, req, &key)
	if key.ID == "" || key.Key == "" {
		t.Fatal("b2_create_key returned no key")
	}
	return key.ID, key.Key
}

func doJSON(t *testing.T, req *http.Request, v any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		var e bytes.Buffer
		e.ReadFrom(resp.Body)
		t.Fatalf("%s: %s %s", req.URL.Path, resp.Status, e.String())
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// runEnv runs a command with env (bounded) and returns stdout, stderr.
func runEnv(env []string, args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}
