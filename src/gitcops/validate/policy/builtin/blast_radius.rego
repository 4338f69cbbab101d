# gitcops built-in policy: blast_radius
#
# A plan may not delete more than a share of the environment's managed resources at once
# (a deleted directory of manifests, a wrong branch, a broken overlay).
#
#   spec.policy.builtin.blastRadius:
#     enabled: true         # default true
#     maxDeleteShare: 0.5   # default 0.5; deleting exactly this share is still allowed
#     minResources: 10      # default 10; smaller environments are never checked
#
# Evaluated once per plan: input.inventory.resources is the number of resources the
# environment manages, and only changes with action "delete" count.
package gitcops.builtin.plan

import rego.v1

default blast_radius_config := {}

blast_radius_config := object.get(data.gitcops.config, "blastRadius", {}) if {
	is_object(data.gitcops.config)
	is_object(object.get(data.gitcops.config, "blastRadius", {}))
}

blast_radius_enabled if object.get(blast_radius_config, "enabled", true) != false

blast_radius_max_share := object.get(blast_radius_config, "maxDeleteShare", 0.5)

blast_radius_min_resources := object.get(blast_radius_config, "minResources", 10)

blast_radius_deletions := [change |
	some change in input.changes
	change.action == "delete"
]

blast_radius_deleted_ids := sort([id |
	some change in blast_radius_deletions
	id := change.id
	is_string(id)
])

# Compared as a quotient, not as share * total: 57 / 100 == 0.57 exactly in floating point,
# while 0.57 * 100 is 56.99999999999999.
blast_radius_too_many(deletes, total) if deletes / total > blast_radius_max_share

# The most deletions the limit allows (counted rather than floor(share * total), for the same
# reason).
blast_radius_allowed(total) := count([n |
	some n in numbers.range(1, total)
	not blast_radius_too_many(n, total)
])

deny contains finding if {
	blast_radius_enabled
	total := input.inventory.resources
	is_number(total)
	total > 0
	total >= blast_radius_min_resources
	deletes := count(blast_radius_deletions)
	blast_radius_too_many(deletes, total)
	finding := {
		"msg": sprintf(
			"plan deletes %d of %d managed resources in environment \"%s\" (%v%%), more than policy.builtin.blastRadius.maxDeleteShare %v allows (at most %d of %d); check that the deletions are intended, then raise the limit or add an exception for builtin.blast_radius",
			[
				deletes, total, object.get(input, "environment", "<unknown>"),
				round((deletes * 1000) / total) / 10, blast_radius_max_share,
				blast_radius_allowed(total), total,
			],
		),
		"rule": "blast_radius",
		"deletes": deletes,
		"resources": total,
		"maxDeleteShare": blast_radius_max_share,
		"deleted": blast_radius_deleted_ids,
	}
}
