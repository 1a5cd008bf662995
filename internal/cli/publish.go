package cli

import (
	"errors"
	"fmt"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/polecam/polecam/store"
)

func newPublishCmd(e *env) *cobra.Command {
	var (
		dataDir  string
		noVerify bool
	)
	cmd := &cobra.Command{
		Use:   "publish --data-dir DIR VERSION",
		Short: "Publish a snapshot version; running servers switch to it",
		Long: "publish verifies VERSION (every checksum and record, as verify does), then\n" +
			"atomically points the data directory at it and records the publish in the\n" +
			"history that rollback reads.\n" +
			"Servers reading the directory pick it up at their next poll.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := openExistingDir("publish", dataDir)
			if err != nil {
				return err
			}
			log, err := e.logger()
			if err != nil {
				return err
			}
			before, err := d.PublishVerified(cmd.Context(), args[0], store.PublishOptions{SkipVerify: noVerify})
			if err != nil {
				if !noVerify && (errors.Is(err, store.ErrCorrupt) || errors.Is(err, store.ErrFormat)) {
					return fmt.Errorf("%w (--no-verify skips the check)", err)
				}
				return err
			}
			log.Info("published snapshot version", "dir", dataDir, "version", args[0], "replaced", before)
			fmt.Fprintf(e.stdout, "published %s\n", args[0])
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", defaultDataDir, "data directory holding the snapshots")
	cmd.Flags().BoolVar(&noVerify, "no-verify", false, "publish without reading the version whole first")
	return cmd
}

func newRollbackCmd(e *env) *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:   "rollback --data-dir DIR",
		Short: "Publish the version that was published before the current one",
		Long: "rollback publishes the previously published version again; repeated\n" +
			"rollbacks walk further back through the publish history. Every version it\n" +
			"would return to is verified first (as verify does); a corrupt or removed one\n" +
			"is passed over, said so, and dropped from the history. It fails, publishing\n" +
			"nothing, if no earlier version verifies.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := openExistingDir("rollback", dataDir)
			if err != nil {
				return err
			}
			log, err := e.logger()
			if err != nil {
				return err
			}
			r, err := d.RollbackVerified(cmd.Context())
			for _, sk := range r.Skipped {
				log.Warn("rollback passed over a version", "dir", dataDir, "version", sk.Version, "err", sk.Err)
				fmt.Fprintf(e.stdout, "skipped %s: %v\n", sk.Version, sk.Err)
			}
			if err != nil {
				return err
			}
			before, v := r.Replaced, r.Version
			log.Info("rolled back snapshot version", "dir", dataDir, "version", v, "replaced", before)
			fmt.Fprintf(e.stdout, "rolled back from %s to %s\n", before, v)
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", defaultDataDir, "data directory holding the snapshots")
	return cmd
}

func newRetainCmd(e *env) *cobra.Command {
	var (
		dataDir string
		keep    int
	)
	cmd := &cobra.Command{
		Use:   "retain --data-dir DIR --keep N",
		Short: "Remove snapshot versions older than the published one, keeping the previous and the newest N",
		Long: "retain removes complete versions older than the published one, except the\n" +
			"previous one (the rollback target) and the newest N of them. Versions newer\n" +
			"than the published one (candidates, or versions the quality gate refused,\n" +
			"kept for inspection) stay until a newer version is published. A version a\n" +
			"running server still has open is skipped and left for a later run. It also\n" +
			"removes the leftovers of failed or killed builds in staging/ (never a build\n" +
			"in progress: a live build holds a lock on its directory).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if keep < 0 {
				return fmt.Errorf("retain: --keep %d: must be 0 or more", keep)
			}
			d, err := openExistingDir("retain", dataDir)
			if err != nil {
				return err
			}
			log, err := e.logger()
			if err != nil {
				return err
			}
			removed, err := d.Retain(cmd.Context(), keep)
			for _, v := range removed {
				log.Info("removed snapshot version", "dir", dataDir, "version", v)
				fmt.Fprintf(e.stdout, "removed %s\n", v)
			}
			if err != nil {
				return err
			}
			left, err := d.RemoveLeftovers(cmd.Context())
			for _, l := range left {
				log.Info("removed staging leftover", "dir", dataDir, "name", l.Name, "bytes", l.SizeBytes)
				fmt.Fprintf(e.stdout, "removed leftover staging/%s (%s)\n", l.Name, humanize.IBytes(uint64(l.SizeBytes)))
			}
			if err != nil {
				return fmt.Errorf("retain: %w", err)
			}
			vs, err := d.Versions()
			if err != nil {
				return fmt.Errorf("retain: %w", err)
			}
			fmt.Fprintf(e.stdout, "removed %d, %d versions left\n", len(removed), len(vs))
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", defaultDataDir, "data directory holding the snapshots")
	cmd.Flags().IntVar(&keep, "keep", 3, "how many of the newest versions older than the published one to keep besides the previous one")
	return cmd
}

func newForgetCmd(e *env) *cobra.Command {
	var (
		dataDir string
		user    string
	)
	cmd := &cobra.Command{
		Use:   "forget --data-dir DIR --user ID",
		Short: "Forget a user: stop serving them at once and leave them out of later training",
		Long: "forget records the SHA-256 of the user id (never the id) in the data\n" +
			"directory's durable tombstone list. Servers reading the directory stop using\n" +
			"the user's vector and history at their next poll, without a retrain, and\n" +
			"training runs leave the user out. The audit log names only a prefix of the\n" +
			"hash. Forgetting a user twice is harmless.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if user == "" {
				return errors.New("forget: --user is required")
			}
			d, err := openExistingDir("forget", dataDir)
			if err != nil {
				return err
			}
			log, err := e.logger()
			if err != nil {
				return err
			}
			if err := d.Forget(user); err != nil {
				return err
			}
			h := store.UserHash(user)[:12]
			log.Info("user forgotten", "dir", dataDir, "user_sha256_prefix", h)
			fmt.Fprintf(e.stdout, "forgot user sha256:%s...\n", h)
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", defaultDataDir, "data directory holding the snapshots")
	cmd.Flags().StringVar(&user, "user", "", "the user id to forget")
	return cmd
}
