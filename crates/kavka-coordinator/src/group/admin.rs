//! DescribeGroups, ListGroups and DeleteGroups.

use kavka_protocol::ErrorCode;

use super::api::{GroupDescription, GroupListing, MemberDescription};
use super::classic::GroupState;
use super::offsets::offset_tombstone;
use super::records::GroupRecord;
use super::shard::{Effects, GroupShard};

impl GroupShard {
    /// DescribeGroups of one group: members always; their metadata and assignment, and the
    /// protocol, only while Stable (as Kafka).
    pub fn describe(&self, group_id: &str) -> Option<GroupDescription> {
        let group = self.groups.get(group_id)?;
        let stable = group.is(GroupState::Stable);
        let protocol = group.protocol_name.clone().unwrap_or_default();
        Some(GroupDescription {
            state: group.state.name(),
            protocol_type: group.protocol_type.clone().unwrap_or_default(),
            protocol_name: if stable {
                protocol.clone()
            } else {
                String::new()
            },
            members: group
                .members
                .iter()
                .map(|(id, m)| MemberDescription {
                    member_id: id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: if stable {
                        m.metadata(&protocol)
                    } else {
                        Default::default()
                    },
                    assignment: if stable {
                        m.assignment.clone()
                    } else {
                        Default::default()
                    },
                })
                .collect(),
        })
    }

    /// ListGroups: every group of the shard.
    pub fn list(&self) -> Vec<GroupListing> {
        let mut groups: Vec<GroupListing> = self
            .groups
            .iter()
            .filter(|(_, g)| !g.is(GroupState::Dead))
            .map(|(id, g)| GroupListing {
                group_id: id.clone(),
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                state: g.state.name(),
            })
            .collect();
        groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        groups
    }

    /// DeleteGroups of one group: only an empty group; its offsets and metadata are tombstoned.
    pub fn delete_group(&mut self, group_id: &str) -> (ErrorCode, Effects) {
        let mut effects = Effects::default();
        if group_id.is_empty() {
            return (ErrorCode::INVALID_GROUP_ID, effects);
        }
        let Some(group) = self.groups.get(group_id) else {
            return (ErrorCode::GROUP_ID_NOT_FOUND, effects);
        };
        match group.state {
            GroupState::Dead => return (ErrorCode::GROUP_ID_NOT_FOUND, effects),
            GroupState::Empty => {}
            _ => return (ErrorCode::NON_EMPTY_GROUP, effects),
        }
        for (topic, partition) in group.offsets.keys() {
            effects
                .records
                .push(offset_tombstone(group_id, topic, *partition));
        }
        effects.records.push(GroupRecord::Group {
            group: group_id.to_string(),
            value: None,
        });
        (ErrorCode::NONE, effects)
    }
}
