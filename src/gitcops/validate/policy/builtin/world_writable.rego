# gitcops built-in policy: world_writable
#
# Files and directories of the local provider must not be writable by others (the o+w bit:
# the last octal digit of spec.mode is 2, 3, 6 or 7). Without a mode there is nothing to
# check: gitcops writes files 0644 and directories 0755.
#
#   spec.policy.builtin.worldWritable:
#     enabled: true   # default true
#
# Evaluated once per rendered resource; the engine passes the config as data.gitcops.config.
package gitcops.builtin.resources

import rego.v1

default world_writable_config := {}

world_writable_config := object.get(data.gitcops.config, "worldWritable", {}) if {
	is_object(data.gitcops.config)
	is_object(object.get(data.gitcops.config, "worldWritable", {}))
}

world_writable_enabled if object.get(world_writable_config, "enabled", true) != false

world_writable_kinds := {"File", "Directory"}

# The last octal digit (the "others" bits) with o+w set, and the same digit with it cleared.
world_writable_safer_digit := {"2": "0", "3": "1", "6": "4", "7": "5"}

world_writable_subject := input.gitcops.id if {
	is_string(input.gitcops.id)
} else := sprintf("%s/%s", [input.kind, object.get(input, ["metadata", "name"], "<no name>")])

# The body's order is its cost, not its result: it runs once per resource, and nearly all
# stop within the first lines (an others digit of 4, 5 or 0), before the configuration is
# looked up or the regular expression runs. Comparisons are cheaper than a lookup there.
deny contains finding if {
	mode := input.spec.mode
	is_string(mode)
	mode != ""
	others := substring(mode, count(mode) - 1, 1)
	others != "4"
	others != "5"
	others != "0"
	safer := world_writable_safer_digit[others]
	input.kind in world_writable_kinds
	input.apiVersion == "local.gitcops.io/v1"
	regex.match(`^[0-7]+$`, mode)
	world_writable_enabled
	prefix := substring(mode, 0, count(mode) - 1)
	# As object.get(input, [...]): then only spec.mode and spec.path reach rego-cpp, not all of spec.
	path := object.get(input, ["spec", "path"], "<no path>")
	finding := {
		"msg": sprintf(
			"%s %s (%s) has mode \"%s\", which lets any user write it (o+w); use a mode without the others-write bit, e.g. \"%s%s\"",
			[input.kind, path, world_writable_subject, mode, prefix, safer],
		),
		"rule": "world_writable",
		"path": path,
		"mode": mode,
	}
}
