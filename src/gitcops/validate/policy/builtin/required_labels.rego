# gitcops built-in policy: required_labels
#
# Every managed resource must carry the labels listed in gitcops.yaml:
#
#   spec.policy.builtin.requiredLabels:
#     enabled: true          # default true
#     labels: [owner, tier]  # default [] (the rule then never fires)
#
# HealthCheck documents are checks, not managed objects, and are skipped.
# Evaluated once per rendered resource; the engine passes the config as data.gitcops.config.
package gitcops.builtin.resources

import rego.v1

# Only data.gitcops.config is read: referring to data.gitcops as a whole would include this
# package itself (a recursion error).
default required_labels_config := {}

required_labels_config := object.get(data.gitcops.config, "requiredLabels", {}) if {
	is_object(data.gitcops.config)
	is_object(object.get(data.gitcops.config, "requiredLabels", {}))
}

required_labels_enabled if object.get(required_labels_config, "enabled", true) != false

required_labels_wanted := {label |
	some label in object.get(required_labels_config, "labels", [])
	is_string(label)
}

required_labels_present := object.get(input, ["metadata", "labels"], {}) if {
	is_object(object.get(input, ["metadata", "labels"], {}))
} else := {}

required_labels_missing := sort({label |
	some label in required_labels_wanted
	not required_labels_has(label)
})

required_labels_has(label) if {
	_ = required_labels_present[label]
}

required_labels_subject := input.gitcops.id if {
	is_string(input.gitcops.id)
} else := sprintf("%s/%s", [
	object.get(input, "kind", "<no kind>"),
	object.get(input, ["metadata", "name"], "<no name>"),
])

deny contains finding if {
	required_labels_enabled
	object.get(input, "kind", "") != "HealthCheck"
	count(required_labels_missing) > 0
	finding := {
		# concat, not sprintf("%s", [concat(...)]): rego-cpp renders a concat result inside
		# sprintf with stray quotes.
		"msg": concat("", [
			required_labels_subject,
			" is missing required label(s): ",
			concat(", ", required_labels_missing),
			"; add them under metadata.labels (required by policy.builtin.requiredLabels.labels)",
		]),
		"rule": "required_labels",
		"missing": required_labels_missing,
	}
}
