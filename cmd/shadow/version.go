package main

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

func init() { addCommand(newVersionCmd) }

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of shadow and of its main dependencies",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info, _ := debug.ReadBuildInfo()
			v := map[string]string{"shadow": "devel"}
			if info != nil {
				if info.Main.Version != "" && info.Main.Version != "(devel)" {
					v["shadow"] = info.Main.Version
				}
				v["go"] = info.GoVersion
				for _, d := range info.Deps {
					switch d.Path {
					case "github.com/apache/iceberg-go", "github.com/apache/arrow-go/v18", "github.com/mattn/go-sqlite3":
						v[d.Path] = d.Version
					}
				}
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), v)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "shadow %s (%s)\n", v["shadow"], v["go"])
			return nil
		},
	}
}
