"""The projections' tables (projections/schema.py as first shipped).

Revision ID: 0001
Revises: 
Create Date: 2026-12-06 06:00:55.389067
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('automation_stats',
    sa.Column('school', sa.String(length=255), nullable=False),
    sa.Column('automation_id', sa.String(length=255), nullable=False),
    sa.Column('part', sa.Integer(), nullable=False),
    sa.Column('times_executed', sa.BigInteger(), nullable=False),
    sa.Column('skipped', sa.BigInteger(), nullable=False),
    sa.Column('declined', sa.BigInteger(), nullable=False),
    sa.Column('last_run_us', sa.BigInteger(), nullable=True),
    sa.Column('learners_inside', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('school', 'automation_id', 'part')
    )
    with op.batch_alter_table('automation_stats', schema=None) as batch_op:
        batch_op.create_index('automation_stats_by_part', ['part'], unique=False)

    op.create_table('automation_status_counts',
    sa.Column('school', sa.String(length=255), nullable=False),
    sa.Column('automation_id', sa.String(length=255), nullable=False),
    sa.Column('part', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('runs', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('school', 'automation_id', 'part', 'status')
    )
    with op.batch_alter_table('automation_status_counts', schema=None) as batch_op:
        batch_op.create_index('automation_status_counts_by_part', ['part'], unique=False)

    op.create_table('exit_checks',
    sa.Column('run_id', sa.String(length=255), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('part', sa.Integer(), nullable=False),
    sa.Column('exit_id', sa.String(length=255), nullable=True),
    sa.Column('event_id', sa.String(length=255), nullable=True),
    sa.Column('matched', sa.Boolean(), nullable=True),
    sa.Column('at_us', sa.BigInteger(), nullable=False),
    sa.Column('trace_json', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('run_id', 'seq')
    )
    with op.batch_alter_table('exit_checks', schema=None) as batch_op:
        batch_op.create_index('exit_checks_by_part', ['part'], unique=False)

    op.create_table('fold_keys',
    sa.Column('part', sa.Integer(), nullable=False),
    sa.Column('key', sa.LargeBinary(length=16), nullable=False),
    sa.PrimaryKeyConstraint('part', 'key')
    )
    op.create_table('learner_finished',
    sa.Column('school', sa.String(length=255), nullable=False),
    sa.Column('user_id', sa.String(length=255), nullable=False),
    sa.Column('part', sa.Integer(), nullable=False),
    sa.Column('run_ids', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('school', 'user_id')
    )
    with op.batch_alter_table('learner_finished', schema=None) as batch_op:
        batch_op.create_index('learner_finished_by_part', ['part'], unique=False)

    op.create_table('live_runs',
    sa.Column('school', sa.String(length=255), nullable=False),
    sa.Column('automation_id', sa.String(length=255), nullable=False),
    sa.Column('user_id', sa.String(length=255), nullable=False),
    sa.Column('part', sa.Integer(), nullable=False),
    sa.Column('runs', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('school', 'automation_id', 'user_id')
    )
    with op.batch_alter_table('live_runs', schema=None) as batch_op:
        batch_op.create_index('live_runs_by_learner', ['school', 'user_id'], unique=False)
        batch_op.create_index('live_runs_by_part', ['part'], unique=False)

    op.create_table('not_started',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('part', sa.Integer(), nullable=False),
    sa.Column('school', sa.String(length=255), nullable=False),
    sa.Column('user_id', sa.String(length=255), nullable=False),
    sa.Column('automation_id', sa.String(length=255), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('at_us', sa.BigInteger(), nullable=False),
    sa.Column('event_id', sa.String(length=255), nullable=True),
    sa.Column('trigger_id', sa.String(length=255), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('trace_json', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('not_started', schema=None) as batch_op:
        batch_op.create_index('not_started_by_learner', ['school', 'user_id'], unique=False)
        batch_op.create_index('not_started_by_part', ['part'], unique=False)

    op.create_table('projector_offsets',
    sa.Column('topic', sa.String(length=255), nullable=False),
    sa.Column('part', sa.Integer(), nullable=False),
    sa.Column('next_offset', sa.BigInteger(), nullable=False),
    sa.Column('applied', sa.BigInteger(), nullable=False),
    sa.Column('undecodable', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('topic', 'part')
    )
    op.create_table('run_history',
    sa.Column('run_id', sa.String(length=255), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('part', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('at_us', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('exit_id', sa.String(length=255), nullable=True),
    sa.PrimaryKeyConstraint('run_id', 'seq')
    )
    with op.batch_alter_table('run_history', schema=None) as batch_op:
        batch_op.create_index('run_history_by_part', ['part'], unique=False)

    op.create_table('run_steps',
    sa.Column('run_id', sa.String(length=255), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('part', sa.Integer(), nullable=False),
    sa.Column('step_id', sa.String(length=255), nullable=False),
    sa.Column('step_type', sa.String(length=255), nullable=True),
    sa.Column('outcome', sa.String(length=255), nullable=True),
    sa.Column('at_us', sa.BigInteger(), nullable=False),
    sa.Column('detail_json', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('run_id', 'seq')
    )
    with op.batch_alter_table('run_steps', schema=None) as batch_op:
        batch_op.create_index('run_steps_by_part', ['part'], unique=False)

    op.create_table('runs',
    sa.Column('run_id', sa.String(length=255), nullable=False),
    sa.Column('part', sa.Integer(), nullable=False),
    sa.Column('school', sa.String(length=255), nullable=False),
    sa.Column('user_id', sa.String(length=255), nullable=False),
    sa.Column('automation_id', sa.String(length=255), nullable=False),
    sa.Column('automation_version', sa.BigInteger(), nullable=True),
    sa.Column('started_us', sa.BigInteger(), nullable=False),
    sa.Column('start_seq', sa.BigInteger(), nullable=False),
    sa.Column('trigger_id', sa.String(length=255), nullable=True),
    sa.Column('trigger_event_id', sa.String(length=255), nullable=True),
    sa.Column('replay_of', sa.String(length=255), nullable=True),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('ended_us', sa.BigInteger(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('exit_id', sa.String(length=255), nullable=True),
    sa.Column('waiting_in', sa.String(length=255), nullable=True),
    sa.Column('forgotten', sa.Boolean(), nullable=False),
    sa.Column('trigger_trace_json', sa.Text(), nullable=True),
    sa.Column('steps_count', sa.Integer(), nullable=False),
    sa.Column('history_count', sa.Integer(), nullable=False),
    sa.Column('exit_checks_count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('run_id')
    )
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.create_index('runs_by_automation', ['school', 'automation_id', 'started_us', 'run_id'], unique=False)
        batch_op.create_index('runs_by_automation_status', ['school', 'automation_id', 'status', 'started_us', 'run_id'], unique=False)
        batch_op.create_index('runs_by_learner', ['school', 'user_id', 'started_us'], unique=False)
        batch_op.create_index('runs_by_part', ['part'], unique=False)
        batch_op.create_index('runs_by_replay_of', ['school', 'replay_of'], unique=False)

    op.create_table('step_outcomes',
    sa.Column('school', sa.String(length=255), nullable=False),
    sa.Column('automation_id', sa.String(length=255), nullable=False),
    sa.Column('step_id', sa.String(length=255), nullable=False),
    sa.Column('part', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.String(length=255), nullable=False),
    sa.Column('records', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('school', 'automation_id', 'step_id', 'part', 'outcome')
    )
    with op.batch_alter_table('step_outcomes', schema=None) as batch_op:
        batch_op.create_index('step_outcomes_by_part', ['part'], unique=False)

    op.create_table('step_stats',
    sa.Column('school', sa.String(length=255), nullable=False),
    sa.Column('automation_id', sa.String(length=255), nullable=False),
    sa.Column('step_id', sa.String(length=255), nullable=False),
    sa.Column('part', sa.Integer(), nullable=False),
    sa.Column('step_type', sa.String(length=255), nullable=True),
    sa.Column('reached', sa.BigInteger(), nullable=False),
    sa.Column('departures', sa.BigInteger(), nullable=False),
    sa.Column('seconds_spent', sa.Float(), nullable=False),
    sa.Column('longest_seconds', sa.Float(), nullable=False),
    sa.Column('learners_waiting', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('school', 'automation_id', 'step_id', 'part')
    )
    with op.batch_alter_table('step_stats', schema=None) as batch_op:
        batch_op.create_index('step_stats_by_part', ['part'], unique=False)

    op.create_table('step_waiting',
    sa.Column('school', sa.String(length=255), nullable=False),
    sa.Column('automation_id', sa.String(length=255), nullable=False),
    sa.Column('step_id', sa.String(length=255), nullable=False),
    sa.Column('run_id', sa.String(length=255), nullable=False),
    sa.Column('part', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.String(length=255), nullable=False),
    sa.Column('since_us', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('school', 'automation_id', 'step_id', 'run_id')
    )
    with op.batch_alter_table('step_waiting', schema=None) as batch_op:
        batch_op.create_index('step_waiting_by_learner', ['school', 'user_id'], unique=False)
        batch_op.create_index('step_waiting_by_part', ['part'], unique=False)
        batch_op.create_index('step_waiting_oldest', ['school', 'automation_id', 'step_id', 'part', 'since_us'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('step_waiting', schema=None) as batch_op:
        batch_op.drop_index('step_waiting_oldest')
        batch_op.drop_index('step_waiting_by_part')
        batch_op.drop_index('step_waiting_by_learner')

    op.drop_table('step_waiting')
    with op.batch_alter_table('step_stats', schema=None) as batch_op:
        batch_op.drop_index('step_stats_by_part')

    op.drop_table('step_stats')
    with op.batch_alter_table('step_outcomes', schema=None) as batch_op:
        batch_op.drop_index('step_outcomes_by_part')

    op.drop_table('step_outcomes')
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_index('runs_by_replay_of')
        batch_op.drop_index('runs_by_part')
        batch_op.drop_index('runs_by_learner')
        batch_op.drop_index('runs_by_automation_status')
        batch_op.drop_index('runs_by_automation')

    op.drop_table('runs')
    with op.batch_alter_table('run_steps', schema=None) as batch_op:
        batch_op.drop_index('run_steps_by_part')

    op.drop_table('run_steps')
    with op.batch_alter_table('run_history', schema=None) as batch_op:
        batch_op.drop_index('run_history_by_part')

    op.drop_table('run_history')
    op.drop_table('projector_offsets')
    with op.batch_alter_table('not_started', schema=None) as batch_op:
        batch_op.drop_index('not_started_by_part')
        batch_op.drop_index('not_started_by_learner')

    op.drop_table('not_started')
    with op.batch_alter_table('live_runs', schema=None) as batch_op:
        batch_op.drop_index('live_runs_by_part')
        batch_op.drop_index('live_runs_by_learner')

    op.drop_table('live_runs')
    with op.batch_alter_table('learner_finished', schema=None) as batch_op:
        batch_op.drop_index('learner_finished_by_part')

    op.drop_table('learner_finished')
    op.drop_table('fold_keys')
    with op.batch_alter_table('exit_checks', schema=None) as batch_op:
        batch_op.drop_index('exit_checks_by_part')

    op.drop_table('exit_checks')
    with op.batch_alter_table('automation_status_counts', schema=None) as batch_op:
        batch_op.drop_index('automation_status_counts_by_part')

    op.drop_table('automation_status_counts')
    with op.batch_alter_table('automation_stats', schema=None) as batch_op:
        batch_op.drop_index('automation_stats_by_part')

    op.drop_table('automation_stats')
